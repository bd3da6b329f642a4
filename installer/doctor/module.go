package doctor

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ModuleProblem is why a file cannot be a PKCS#11 module for this
// program, as far as its file tells.
type ModuleProblem string

// The problems InspectModule recognises, and those the token package's
// load error reveals (Dependency, InitFailed, LoadFailed).
const (
	ModuleOK         ModuleProblem = ""
	ModuleMissing    ModuleProblem = "missing"
	ModuleUnreadable ModuleProblem = "unreadable"
	ModuleNotFile    ModuleProblem = "not-file"
	ModuleWrongOS    ModuleProblem = "wrong-os"
	ModuleWrongArch  ModuleProblem = "wrong-arch"
	ModuleNotLibrary ModuleProblem = "not-library"
	ModuleNotPKCS11  ModuleProblem = "not-pkcs11"
	ModuleDependency ModuleProblem = "dependency"
	ModuleInitFailed ModuleProblem = "init-failed"
	ModuleLoadFailed ModuleProblem = "load-failed"
)

const (
	// pkcs11EntryPoint is the one function every PKCS#11 library exports.
	pkcs11EntryPoint = "C_GetFunctionList"
	// imageFileDLL is IMAGE_FILE_DLL in the COFF characteristics.
	imageFileDLL = 0x2000
	// imageDirectoryEntryExport is the export table's data directory.
	imageDirectoryEntryExport = 0
)

// ModuleInspection is what InspectModule read from a module's file.
type ModuleInspection struct {
	Problem ModuleProblem
	// Format is "elf", "pe", "mach-o" or "" when the file is none of them.
	Format string
	// Arch is the architecture the library is built for, in GOARCH terms
	// when it maps to one ("amd64", "386", "arm64"), else the machine
	// name from its header.
	Arch string
	// Detail is a technical sentence (English) on the problem.
	Detail string
}

// elfArch maps ELF machines to GOARCH names.
var elfArch = map[elf.Machine]string{
	elf.EM_X86_64: "amd64", elf.EM_386: "386", elf.EM_AARCH64: "arm64", elf.EM_ARM: "arm",
	elf.EM_RISCV: "riscv64", elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x", elf.EM_LOONGARCH: "loong64",
}

// peArch maps PE machines to GOARCH names.
var peArch = map[uint16]string{
	pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_I386: "386", pe.IMAGE_FILE_MACHINE_ARM64: "arm64",
	pe.IMAGE_FILE_MACHINE_ARMNT: "arm",
}

// InspectModule reads the header of the library at path and says whether
// this program could load it as a PKCS#11 module: the file exists and is
// readable, is a shared library for this operating system (ELF, or PE on
// Windows) and this architecture, and exports C_GetFunctionList, the one
// entry point every PKCS#11 library has. It loads nothing: a broken vendor
// library cannot crash or hang the check.
func InspectModule(path string) ModuleInspection {
	return inspectModule(path, runtime.GOOS, runtime.GOARCH)
}

func inspectModule(path, goos, goarch string) ModuleInspection {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ModuleInspection{Problem: ModuleMissing, Detail: err.Error()}
	case err != nil:
		return ModuleInspection{Problem: ModuleUnreadable, Detail: err.Error()}
	case !fi.Mode().IsRegular():
		return ModuleInspection{Problem: ModuleNotFile, Detail: path + " is not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return ModuleInspection{Problem: ModuleUnreadable, Detail: err.Error()}
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return ModuleInspection{Problem: ModuleNotLibrary, Detail: "the file is too short to be a library"}
	}
	switch {
	case bytes.Equal(magic[:], []byte(elf.ELFMAG)):
		return inspectELF(f, goos, goarch)
	case magic[0] == 'M' && magic[1] == 'Z':
		return inspectPE(f, goos, goarch)
	case isMachO(magic):
		in := ModuleInspection{Format: "mach-o"}
		if goos != "darwin" {
			in.Problem, in.Detail = ModuleWrongOS, "the file is a macOS library (Mach-O)"
		}
		return in
	}
	return ModuleInspection{Problem: ModuleNotLibrary, Detail: "the file is not a shared library (neither ELF nor PE)"}
}

func isMachO(m [4]byte) bool {
	switch string(m[:]) {
	case "\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe", "\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe":
		return true
	}
	return false
}

func inspectELF(r io.ReaderAt, goos, goarch string) ModuleInspection {
	in := ModuleInspection{Format: "elf"}
	f, err := elf.NewFile(r)
	if err != nil {
		in.Problem, in.Detail = ModuleNotLibrary, "unreadable ELF header: "+err.Error()
		return in
	}
	defer f.Close()
	in.Arch = elfArch[f.Machine]
	if in.Arch == "" {
		in.Arch = f.Machine.String()
	}
	if goos == "windows" {
		in.Problem, in.Detail = ModuleWrongOS, "the file is a Linux/Unix library (ELF), not a Windows DLL"
		return in
	}
	if in.Arch != goarch {
		in.Problem, in.Detail = ModuleWrongArch, fmt.Sprintf("the library is built for %s (%s), this program is %s", in.Arch, f.Class, goarch)
		return in
	}
	if f.Type != elf.ET_DYN {
		in.Problem, in.Detail = ModuleNotLibrary, fmt.Sprintf("the file is an ELF %s, not a shared library", f.Type)
		return in
	}
	syms, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		in.Problem, in.Detail = ModuleNotLibrary, "unreadable dynamic symbol table: "+err.Error()
		return in
	}
	for _, s := range syms {
		if s.Name == pkcs11EntryPoint && s.Section != elf.SHN_UNDEF {
			return in
		}
	}
	in.Problem, in.Detail = ModuleNotPKCS11, "the library does not export "+pkcs11EntryPoint
	return in
}

func inspectPE(r io.ReaderAt, goos, goarch string) ModuleInspection {
	in := ModuleInspection{Format: "pe"}
	f, err := pe.NewFile(r)
	if err != nil {
		in.Problem, in.Detail = ModuleNotLibrary, "unreadable PE header: "+err.Error()
		return in
	}
	defer f.Close()
	in.Arch = peArch[f.Machine]
	if in.Arch == "" {
		in.Arch = fmt.Sprintf("machine 0x%x", f.Machine)
	}
	if goos != "windows" {
		in.Problem, in.Detail = ModuleWrongOS, "the file is a Windows DLL"
		return in
	}
	if in.Arch != goarch {
		in.Problem, in.Detail = ModuleWrongArch, fmt.Sprintf("the DLL is built for %s, this program is %s", in.Arch, goarch)
		return in
	}
	if f.Characteristics&imageFileDLL == 0 {
		in.Problem, in.Detail = ModuleNotLibrary, "the file is a Windows program, not a DLL"
		return in
	}
	names, err := peExports(f)
	if err != nil {
		in.Problem, in.Detail = ModuleNotLibrary, "unreadable export table: "+err.Error()
		return in
	}
	for _, n := range names {
		if n == pkcs11EntryPoint {
			return in
		}
	}
	in.Problem, in.Detail = ModuleNotPKCS11, "the DLL does not export "+pkcs11EntryPoint
	return in
}

// peExports returns the names a PE file exports. debug/pe reads imports
// only, so the export directory (IMAGE_EXPORT_DIRECTORY: NumberOfNames at
// offset 24, AddressOfNames at 32) is read here.
func peExports(f *pe.File) ([]string, error) {
	var dir pe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		if oh.NumberOfRvaAndSizes <= imageDirectoryEntryExport {
			return nil, nil
		}
		dir = oh.DataDirectory[imageDirectoryEntryExport]
	case *pe.OptionalHeader64:
		if oh.NumberOfRvaAndSizes <= imageDirectoryEntryExport {
			return nil, nil
		}
		dir = oh.DataDirectory[imageDirectoryEntryExport]
	default:
		return nil, errors.New("no optional header")
	}
	if dir.VirtualAddress == 0 || dir.Size == 0 {
		return nil, nil
	}
	ed, err := peRead(f, dir.VirtualAddress, 40)
	if err != nil {
		return nil, fmt.Errorf("export directory: %w", err)
	}
	n := le32(ed[24:])
	if n > 1<<16 {
		return nil, fmt.Errorf("%d exported names", n)
	}
	table, err := peRead(f, le32(ed[32:]), 4*n)
	if err != nil {
		return nil, fmt.Errorf("export name table: %w", err)
	}
	names := make([]string, 0, n)
	for i := uint32(0); i < n; i++ {
		s, err := peString(f, le32(table[4*i:]))
		if err != nil {
			return nil, fmt.Errorf("export name %d: %w", i, err)
		}
		names = append(names, s)
	}
	return names, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// peSection returns the section holding rva and rva's offset in it.
func peSection(f *pe.File, rva uint32) (*pe.Section, uint32, error) {
	for _, s := range f.Sections {
		size := max(s.VirtualSize, s.Size)
		if rva >= s.VirtualAddress && rva-s.VirtualAddress < size {
			return s, rva - s.VirtualAddress, nil
		}
	}
	return nil, 0, fmt.Errorf("address 0x%x is in no section", rva)
}

func peRead(f *pe.File, rva, n uint32) ([]byte, error) {
	s, off, err := peSection(f, rva)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := s.ReadAt(b, int64(off)); err != nil {
		return nil, err
	}
	return b, nil
}

func peString(f *pe.File, rva uint32) (string, error) {
	s, off, err := peSection(f, rva)
	if err != nil {
		return "", err
	}
	var b []byte
	buf := make([]byte, 64)
	for len(b) < 1024 {
		n, err := s.ReadAt(buf, int64(off)+int64(len(b)))
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(b, buf[:i]...)), nil
		}
		b = append(b, buf[:n]...)
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("name too long")
}

// loadProblem classifies the token package's load error for a module
// whose file looked right: what the loader said beyond the file itself.
func loadProblem(msg string) (ModuleProblem, string) {
	switch {
	case strings.Contains(msg, "cannot open shared object file"):
		// dlerror: "libpcsclite.so.1: cannot open shared object file: …"
		lib, _, _ := strings.Cut(msg, ":")
		return ModuleDependency, filepath.Base(strings.TrimSpace(lib))
	case strings.Contains(msg, "Windows error 126"):
		// ERROR_MOD_NOT_FOUND for a DLL that exists: one it needs does not.
		return ModuleDependency, ""
	case strings.Contains(msg, "no "+pkcs11EntryPoint):
		return ModuleNotPKCS11, ""
	case strings.Contains(msg, "wrong architecture"):
		return ModuleWrongArch, ""
	case strings.Contains(msg, "C_Initialize failed"), strings.Contains(msg, "C_GetInfo failed"):
		return ModuleInitFailed, ""
	}
	return ModuleLoadFailed, ""
}

// vendors maps substrings of module file names (lowercase) to whose
// software installs them, for the fix line.
var vendors = []struct{ match, vendor string }{
	{"bit4xpki", "bit4id (Ban Cơ yếu Chính phủ)"},
	{"viettel", "Viettel-CA"},
	{"vnpt", "VNPT-CA"},
	{"fpt", "FPT-CA"},
	{"bkav", "BkavCA"},
	{"st3csp11", "BkavCA"},
	{"ca2_", "CA2 (Nacencomm)"},
	{"safe-ca", "Safe-CA"},
	{"efy-ca", "EFY-CA"},
	{"vina-ca", "Vina-CA"},
	{"newca", "NewCA"},
	{"misaca", "MISA-CA"},
	{"eca_", "ECA"},
	{"eps2003", "Feitian ePass2003"},
	{"etoken", "SafeNet eToken"},
	{"etpkcs11", "SafeNet eToken"},
	{"wdpkcs", "Watchdata"},
	{"idprime", "Thales IDPrime"},
	{"opensc", "OpenSC"},
	{"softhsm", "SoftHSM"},
}

// packages maps module file names to the Debian/Ubuntu package that
// installs them.
var packages = map[string]string{
	"opensc-pkcs11.so": "opensc-pkcs11",
	"libsofthsm2.so":   "softhsm2",
}

// whoseSoftware names the software to (re)install for a module.
func whoseSoftware(path string) Text {
	base := strings.ToLower(filepath.Base(path))
	for _, v := range vendors {
		if strings.Contains(base, v.match) {
			return T("doctor.module.software", v.vendor)
		}
	}
	return T("doctor.module.software.unknown")
}

// moduleFix is the fix line for a module problem.
func moduleFix(p ModuleProblem, path, arch, dependency, goos, goarch string) Text {
	sw := whoseSoftware(path)
	switch p {
	case ModuleMissing:
		if pkg := packages[filepath.Base(path)]; pkg != "" && goos == "linux" {
			return T("doctor.module.fix.package", pkg, pkg)
		}
		return T("doctor.module.fix.missing", sw)
	case ModuleUnreadable:
		return T("doctor.module.fix.unreadable", path)
	case ModuleNotFile, ModuleNotLibrary:
		return T("doctor.module.fix.notLibrary")
	case ModuleWrongOS:
		return T("doctor.module.fix.wrongOS", sw, goos)
	case ModuleWrongArch:
		return T("doctor.module.fix.wrongArch", goarch, sw, arch)
	case ModuleNotPKCS11:
		return T("doctor.module.fix.notPKCS11")
	case ModuleDependency:
		if dependency != "" {
			return T("doctor.module.fix.dependency", dependency, sw)
		}
		return T("doctor.module.fix.dependency.unknown", sw)
	case ModuleInitFailed:
		return T("doctor.module.fix.init", sw)
	}
	return T("doctor.module.fix.reinstall", sw)
}
