package installer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/kyso-vn/kyso/agent"
)

// The kit's .reg files use the format of regedit's own exports: a
// "Windows Registry Editor Version 5.00" header, the file in UTF-16LE
// with a byte order mark and CRLF line ends. REGEDIT4 files are read in
// the ANSI code page, and their hex(7) (REG_MULTI_SZ) data are ANSI bytes
// too; in version 5 files hex(7) data are the UTF-16LE bytes the registry
// stores, which is what AllowedOrigins (REG_MULTI_SZ, read by
// agent/policy_windows.go with GetStringsValue) needs. Both regedit and
// `reg import` read this form.

// regWriter builds a .reg file's lines.
type regWriter struct {
	lines []string
}

func newRegWriter(comments ...string) *regWriter {
	w := &regWriter{lines: []string{"Windows Registry Editor Version 5.00", ""}}
	for _, c := range comments {
		w.lines = append(w.lines, "; "+c)
	}
	return w
}

// deleteKey removes a key and everything under it.
func (w *regWriter) deleteKey(path string) {
	w.lines = append(w.lines, "", "[-HKEY_LOCAL_MACHINE\\"+path+"]")
}

// key starts the values of a key (created when missing).
func (w *regWriter) key(path string) {
	w.lines = append(w.lines, "", "[HKEY_LOCAL_MACHINE\\"+path+"]")
}

// sz writes a REG_SZ value.
func (w *regWriter) sz(name, value string) {
	w.lines = append(w.lines, regQuote(name)+"="+regQuote(value))
}

// dword writes a REG_DWORD value.
func (w *regWriter) dword(name string, v uint32) {
	w.lines = append(w.lines, fmt.Sprintf("%s=dword:%08x", regQuote(name), v))
}

// deleteValue removes a value, so that a setting an earlier kit wrote
// does not outlive the kit that dropped it.
func (w *regWriter) deleteValue(name string) {
	w.lines = append(w.lines, regQuote(name)+"=-")
}

// multiSZ writes a REG_MULTI_SZ value as hex(7): each string in UTF-16LE
// with its terminating NUL, then one more NUL, wrapped at 80 columns as
// regedit does ("\" at the end of a continued line, two spaces before the
// next).
func (w *regWriter) multiSZ(name string, values []string) {
	var units []uint16
	for _, v := range values {
		units = append(units, utf16.Encode([]rune(v))...)
		units = append(units, 0)
	}
	units = append(units, 0)
	hex := make([]string, 0, 2*len(units))
	for _, u := range units {
		hex = append(hex, fmt.Sprintf("%02x", byte(u)), fmt.Sprintf("%02x", byte(u>>8)))
	}
	line := regQuote(name) + "=hex(7):"
	for i, h := range hex {
		piece := h
		if i < len(hex)-1 {
			piece += ","
		}
		if len(line)+len(piece) > 79 {
			w.lines = append(w.lines, line+`\`)
			line = "  "
		}
		line += piece
	}
	w.lines = append(w.lines, line)
}

// bytes is the file: UTF-16LE with a byte order mark, CRLF line ends and
// a final empty line, as regedit writes it.
func (w *regWriter) bytes() []byte {
	text := strings.Join(w.lines, "\r\n") + "\r\n\r\n"
	units := utf16.Encode([]rune(text))
	out := make([]byte, 0, 2+2*len(units))
	out = append(out, 0xff, 0xfe)
	for _, u := range units {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// regQuote writes s as a .reg string: in quotes, with backslashes and
// quotes escaped. Line breaks cannot be written; the kit's values never
// hold one (origins and the TSA URL are checked first).
func regQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// agentPolicyReg is p for HKLM\Software\Policies\kyso, with the value
// names and types agent.LoadMachinePolicy reads (agent/policy_windows.go).
// The values the kit manages are written or, when the kit leaves them
// empty, deleted; the others (Modules, Templates, DefaultLevel, ...) are
// left to whoever set them.
func agentPolicyReg(p *agent.Policy) []byte {
	w := newRegWriter(
		"kyso: chính sách của máy cho tác tử ký số (kyso policy generate).",
		"kyso: the signing agent's machine policy (kyso policy generate).",
	)
	w.key(AgentPolicyKey)
	w.multiSZ("AllowedOrigins", p.AllowedOrigins)
	if len(p.HashSigningOrigins) > 0 {
		w.multiSZ("HashSigningOrigins", p.HashSigningOrigins)
	} else {
		w.deleteValue("HashSigningOrigins")
	}
	var approve uint32
	if p.UserMayApprove == nil || *p.UserMayApprove {
		approve = 1
	}
	w.dword("UserMayApprove", approve)
	if p.TSA != "" {
		w.sz("TSA", p.TSA)
	} else {
		w.deleteValue("TSA")
	}
	return w.bytes()
}

// browserListReg writes Chrome's (or Edge's) two Local Network Access
// list policies under base: list policies are a subkey of numbered REG_SZ
// values "1", "2", ... Each subkey is deleted first, so that entries of a
// longer earlier list do not remain after the numbered values are
// rewritten.
func browserListReg(base, browser string, patterns []string) []byte {
	w := newRegWriter(
		"kyso: cho phép các trang quản lý văn bản kết nối tới tác tử trên máy ("+browser+", Local Network Access).",
		"kyso: lets the document-management sites reach the local agent ("+browser+", Local Network Access).",
	)
	for _, policy := range []string{ChromeLoopbackPolicy, ChromeLNAPolicy} {
		key := base + `\` + policy
		w.deleteKey(key)
		w.key(key)
		for i, p := range patterns {
			w.sz(strconv.Itoa(i+1), p)
		}
	}
	return w.bytes()
}
