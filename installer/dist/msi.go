package dist

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/kyso-vn/kyso/installer/packaging"
	"github.com/kyso-vn/kyso/tray"
)

// UpgradeCode identifies kyso's .msi across all its versions, so that a
// newer one replaces an older one. It must never change.
const UpgradeCode = "F34928E7-609B-41B0-A5B3-9BB1A1C69E28"

// PolicyProperty is one MSI property that writes a value of the machine
// policy under HKLM\Software\Policies\kyso, when the install command line
// gives it (msiexec /i kyso.msi /qn ALLOWED_ORIGINS=https://…).
type PolicyProperty struct {
	// Property is the public (upper-case) MSI property.
	Property string
	// Name is the registry value agent/policy_windows.go reads.
	Name string
	// Type is the value's registry type: REG_SZ, REG_DWORD or REG_MULTI_SZ.
	Type string
	// GUID is the component's, fixed forever (component rules).
	GUID string
}

// WixType is the WiX RegistryValue type of Type. A REG_MULTI_SZ is a
// "string" whose value Value wraps in [~]: wixl writes its own
// "multistring" type as a plain string, which Windows Installer would
// store as REG_SZ, a type the agent refuses for these values.
func (p PolicyProperty) WixType() string {
	if p.Type == "REG_DWORD" {
		return "integer" // wixl adds the # that makes it a DWORD
	}
	return "string"
}

// Value is the RegistryValue's value: the property, formatted at install
// time. For a REG_MULTI_SZ it is "[~][PROPERTY][~]": the Registry table's
// syntax for a list that replaces the value (a [~] at only one end would
// append or prepend to what is there), here of one string.
func (p PolicyProperty) Value() string {
	v := "[" + p.Property + "]"
	if p.Type == "REG_MULTI_SZ" {
		return "[~]" + v + "[~]"
	}
	return v
}

// PolicyProperties are the .msi's policy properties, one per value that
// agent.LoadMachinePolicy reads on Windows, with the same types. A
// REG_MULTI_SZ property holds one entry (see docs/deployment.md: Windows
// Installer cannot split a property into several strings without a custom
// action, which this package deliberately has none of).
func PolicyProperties() []PolicyProperty {
	return []PolicyProperty{
		{"ALLOWED_ORIGINS", "AllowedOrigins", "REG_MULTI_SZ", "AA817A58-E622-48D7-9969-C09B3F3BC4C9"},
		{"HASH_SIGNING_ORIGINS", "HashSigningOrigins", "REG_MULTI_SZ", "387FD4C5-6E00-45AB-B87F-6595AFECA9D3"},
		{"USER_MAY_APPROVE", "UserMayApprove", "REG_DWORD", "239F9966-221A-49C5-911E-2D3CB68162D6"},
		{"MODULES", "Modules", "REG_MULTI_SZ", "898FA503-E6B8-4EEA-A37A-EA06F85E19BC"},
		{"TSA", "TSA", "REG_SZ", "6C21E8FB-92DC-4DFA-9089-5BAEEE05159C"},
		{"DEFAULT_LEVEL", "DefaultLevel", "REG_SZ", "D2708C2C-1616-44B9-8BF2-E61767216802"},
		{"TEMPLATES", "Templates", "REG_SZ", "BAC75383-0151-4842-8A03-888FC9D6CB42"},
		{"MAX_DOCUMENT_MB", "MaxDocumentMB", "REG_DWORD", "2646D7EE-9C59-4E9D-92B9-6019F5B17402"},
		{"DIALOG_TIMEOUT_SECONDS", "DialogTimeoutSeconds", "REG_DWORD", "8D252B0A-3DEA-4CC1-ACCD-2685D1B83067"},
		{"PIN_SESSION_SECONDS", "PINSessionSeconds", "REG_DWORD", "4ED57A24-0083-4AC2-9DB6-A46FE3FAAE2C"},
	}
}

// Condition is the condition of the value's component: its property is
// given (any value, "0" included), or the product is being removed —
// Windows Installer evaluates component conditions when uninstalling too,
// and a component whose condition is false then is left behind, with
// the policy value it wrote.
func (p PolicyProperty) Condition() string {
	return p.Property + ` <> "" OR REMOVE ~= "ALL"`
}

// LaunchCondition is, for a REG_MULTI_SZ property, the condition an
// install must meet: no list separator in the one entry the property
// holds, so that `ALLOWED_ORIGINS="https://a https://b"` stops the
// install with a message instead of writing an entry the agent rejects
// (it would not start). Module paths may contain spaces, so for them only
// ";" counts. "" for other types.
func (p PolicyProperty) LaunchCondition() string {
	if p.Type != "REG_MULTI_SZ" {
		return ""
	}
	seps := []string{" ", ";", ","}
	if p.Name == "Modules" {
		seps = []string{";"}
	}
	var c []string
	for _, sep := range seps {
		c = append(c, p.Property+` >< "`+sep+`"`)
	}
	return "NOT (" + strings.Join(c, " OR ") + ")"
}

// LaunchMessage is what Windows Installer says when LaunchCondition is
// not met.
func (p PolicyProperty) LaunchMessage() string {
	return p.Property + ` takes a single entry. To set several, write HKLM\Software\Policies\kyso\` + p.Name + ` (REG_MULTI_SZ) with Group Policy, the kyso policy kit or reg.exe.`
}

// wxsConfig is what kyso.wxs.tmpl is rendered with.
type wxsConfig struct {
	Version     wxsVersion
	UpgradeCode string
	Homepage    string
	Exe, Icon   string
	Policy      []PolicyProperty
}

// wxsVersion gives the template both forms of the version.
type wxsVersion struct{ MSI, String string }

// msi renders the WiX descriptor around the signed kyso.exe, builds it
// with wixl and signs the result into Out.
func (b *builder) msi(ctx context.Context) error {
	msiVer, err := b.ver.MSI()
	if err != nil {
		return err
	}
	// wixl resolves sources relative to its working folder only.
	const icon = "kyso.ico"
	if err := os.WriteFile(filepath.Join(b.work, icon), tray.IconICO(tray.IconReady), 0o644); err != nil {
		return err
	}
	tmpl, err := template.ParseFS(packaging.Files, "kyso.wxs.tmpl")
	if err != nil {
		return err
	}
	var wxs bytes.Buffer
	err = tmpl.Execute(&wxs, wxsConfig{
		Version:     wxsVersion{MSI: msiVer, String: xmlAttr(b.ver.String())},
		UpgradeCode: UpgradeCode,
		Homepage:    xmlAttr(b.opt.Homepage),
		Exe:         xmlAttr(signedExe),
		Icon:        xmlAttr(icon),
		Policy:      PolicyProperties(),
	})
	if err != nil {
		return err
	}
	wxsPath := filepath.Join(b.work, "kyso.wxs")
	if err := os.WriteFile(wxsPath, wxs.Bytes(), 0o644); err != nil {
		return err
	}
	unsigned := filepath.Join(b.work, "kyso.msi")
	cmd := exec.CommandContext(ctx, "wixl", "--arch", "x64", "-o", unsigned, wxsPath)
	cmd.Dir = b.work
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dist: wixl: %w\n%s", err, o)
	}
	if err := finishMSI(ctx, unsigned, msiVer); err != nil {
		return err
	}
	s, err := b.signer()
	if err != nil {
		return err
	}
	b.res.MSI = filepath.Join(b.opt.Out, "kyso-"+b.ver.Package()+"-x64.msi")
	return s.Sign(ctx, unsigned, b.res.MSI)
}

// transitiveComponent is msidbComponentAttributesTransitive: the
// component's condition is evaluated again on a reinstall.
const transitiveComponent = 0x40

// upgradeVersionMaxInclusive is msidbUpgradeAttributesVersionMaxInclusive.
const upgradeVersionMaxInclusive = 0x200

// finishMSI writes with msibuild (msitools) what wixl 0.101 cannot
// express, into the tables Windows Installer reads:
//
//   - the policy properties in SecureCustomProperties;
//   - the launch conditions of the list properties (LaunchCondition);
//   - each policy component's condition (PolicyProperty.Condition) and
//     the transitive attribute, so that the value is written only when
//     its property is given, and removed with the product;
//   - the major upgrade across equal versions: builds between two tags
//     share the tag's X.Y.Z, so the row that finds older versions
//     includes the version being installed (WiX's
//     AllowSameVersionUpgrades). The row is a primary key's part, hence
//     delete and insert.
func finishMSI(ctx context.Context, msi, version string) error {
	tool, err := exec.LookPath("msibuild")
	if err != nil {
		return fmt.Errorf("dist: msibuild is needed (Debian package msitools): %w", err)
	}
	comps, err := msiTable(ctx, msi, "Component")
	if err != nil {
		return err
	}
	attrs := map[string]string{}
	for _, r := range comps {
		attrs[r["Component"]] = r["Attributes"]
	}
	props, err := msiTable(ctx, msi, "Property")
	if err != nil {
		return err
	}
	secure := ""
	for _, r := range props {
		if r["Property"] == "SecureCustomProperties" {
			secure = r["Value"]
		}
	}
	var queries []string
	for _, p := range PolicyProperties() {
		// A public property reaches the elevated part of a per-machine
		// install (where the registry is written) only when it is listed
		// as secure.
		secure = strings.TrimPrefix(secure+";"+p.Property, ";")
		a, err := strconv.Atoi(attrs["Policy"+p.Name])
		if err != nil {
			return fmt.Errorf("dist: wixl wrote no component Policy%s with attributes: %w", p.Name, err)
		}
		queries = append(queries, fmt.Sprintf(`UPDATE Component SET Condition = '%s', Attributes = %d WHERE Component = 'Policy%s'`,
			p.Condition(), a|transitiveComponent, p.Name))
		if c := p.LaunchCondition(); c != "" {
			queries = append(queries, fmt.Sprintf("INSERT INTO LaunchCondition (Condition, Description) VALUES ('%s', '%s')", c, p.LaunchMessage()))
		}
	}
	queries = append(queries,
		"DELETE FROM Property WHERE Property = 'SecureCustomProperties'",
		fmt.Sprintf("INSERT INTO Property (Property, Value) VALUES ('SecureCustomProperties', '%s')", secure),
		"DELETE FROM Upgrade WHERE ActionProperty = 'WIX_UPGRADE_DETECTED'",
		fmt.Sprintf("INSERT INTO Upgrade (UpgradeCode, VersionMax, Attributes, ActionProperty) VALUES ('{%s}', '%s', %d, 'WIX_UPGRADE_DETECTED')",
			UpgradeCode, version, 1|upgradeVersionMaxInclusive)) // 1: migrate feature states, as WiX's MajorUpgrade
	for _, q := range queries {
		if o, err := exec.CommandContext(ctx, tool, msi, "-q", q).CombinedOutput(); err != nil {
			return fmt.Errorf("dist: msibuild %q: %w\n%s", q, err, o)
		}
	}
	return nil
}

// msiTable reads one table of an .msi with `msiinfo export`: a row of
// column names, a row of column types, a row naming the table and its
// keys, then tab-separated rows. Each row is returned as column → value.
func msiTable(ctx context.Context, msi, table string) ([]map[string]string, error) {
	tool, err := exec.LookPath("msiinfo")
	if err != nil {
		return nil, fmt.Errorf("dist: msiinfo is needed (Debian package msitools): %w", err)
	}
	out, err := exec.CommandContext(ctx, tool, "export", msi, table).Output()
	if err != nil {
		return nil, fmt.Errorf("dist: msiinfo export %s %s: %w", filepath.Base(msi), table, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("dist: msiinfo export %s: no header in %q", table, out)
	}
	cols := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for _, l := range lines[3:] {
		f := strings.Split(l, "\t")
		if len(f) != len(cols) {
			return nil, fmt.Errorf("dist: msiinfo export %s: row %q has %d fields, not %d", table, l, len(f), len(cols))
		}
		r := map[string]string{}
		for i, c := range cols {
			r[c] = f[i]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// xmlAttr escapes s for a double-quoted XML attribute.
func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
