//go:build windows

package agent

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/windows/registry"
)

// policyKey is the machine policy's registry key under HKLM, where Group
// Policy and the MSI write it and users cannot.
const policyKey = `Software\Policies\kyso`

// DefaultPolicyPath is "" on Windows: the machine policy lives in the
// registry (HKLM\Software\Policies\kyso), see LoadMachinePolicy.
func DefaultPolicyPath() string { return "" }

// LoadMachinePolicy reads the machine policy from
// HKLM\Software\Policies\kyso. A missing key is an empty policy. Values:
//
//	AllowedOrigins       REG_MULTI_SZ
//	HashSigningOrigins   REG_MULTI_SZ
//	UserMayApprove       REG_DWORD (0 or 1)
//	Modules              REG_MULTI_SZ
//	TSA                  REG_SZ
//	DefaultLevel         REG_SZ
//	Templates            REG_SZ
//	MaxDocumentMB        REG_DWORD
//	DialogTimeoutSeconds REG_DWORD
//	PINSessionSeconds    REG_DWORD
//
// An unknown value name or a value of the wrong type is an error naming
// it, as an unknown field is in policy.json.
func LoadMachinePolicy() (*Policy, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, policyKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return &Policy{Schema: PolicySchema}, nil
	}
	if err != nil {
		return nil, fmt.Errorf(`agent: open HKLM\%s: %w`, policyKey, err)
	}
	defer k.Close()
	p, err := readPolicyKey(k)
	if err != nil {
		return nil, fmt.Errorf(`agent: policy HKLM\%s: %w`, policyKey, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf(`agent: policy HKLM\%s: %w`, policyKey, err)
	}
	return p, nil
}

func readPolicyKey(k registry.Key) (*Policy, error) {
	p := &Policy{Schema: PolicySchema}
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil, fmt.Errorf("list values: %w", err)
	}
	for _, name := range names {
		// Registry value names are case-insensitive.
		var err error
		switch strings.ToLower(name) {
		case "allowedorigins":
			p.AllowedOrigins, err = regStrings(k, name)
		case "hashsigningorigins":
			p.HashSigningOrigins, err = regStrings(k, name)
		case "modules":
			p.Modules, err = regStrings(k, name)
		case "tsa":
			p.TSA, err = regString(k, name)
		case "defaultlevel":
			p.DefaultLevel, err = regString(k, name)
		case "templates":
			p.Templates, err = regString(k, name)
		case "usermayapprove":
			var v uint64
			if v, err = regInt(k, name); err == nil {
				b := v != 0
				p.UserMayApprove = &b
			}
		case "maxdocumentmb":
			var v uint64
			if v, err = regInt(k, name); err == nil {
				if v > 1<<20 {
					err = fmt.Errorf("%s: %d is too large", name, v)
				}
				p.MaxDocumentMB = int(v)
			}
		case "dialogtimeoutseconds":
			var v uint64
			if v, err = regInt(k, name); err == nil {
				if v > 24*3600 {
					err = fmt.Errorf("%s: %d is too large", name, v)
				}
				p.DialogTimeout = Duration(time.Duration(v) * time.Second)
			}
		case "pinsessionseconds":
			var v uint64
			if v, err = regInt(k, name); err == nil {
				// Checked against MaxPINSession by Validate; here only
				// kept from wrapping around int.
				if v > 1<<31-1 {
					err = fmt.Errorf("%s: %d is too large", name, v)
				}
				p.PINSessionSeconds = int(v)
			}
		case "":
			// The key's default value: Group Policy tools sometimes leave it.
		default:
			err = fmt.Errorf("unknown value %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func regStrings(k registry.Key, name string) ([]string, error) {
	v, _, err := k.GetStringsValue(name)
	if err != nil {
		return nil, fmt.Errorf("%s (REG_MULTI_SZ): %w", name, err)
	}
	// An empty MULTI_SZ line is not an entry.
	out := v[:0]
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func regString(k registry.Key, name string) (string, error) {
	v, _, err := k.GetStringValue(name)
	if err != nil {
		return "", fmt.Errorf("%s (REG_SZ): %w", name, err)
	}
	return v, nil
}

func regInt(k registry.Key, name string) (uint64, error) {
	v, _, err := k.GetIntegerValue(name)
	if err != nil {
		return 0, fmt.Errorf("%s (REG_DWORD): %w", name, err)
	}
	return v, nil
}
