//go:build !windows

package agent

// DefaultPolicyPath is where IT puts the machine policy:
// /etc/kyso/policy.json, writable by root only.
func DefaultPolicyPath() string { return "/etc/kyso/policy.json" }

// LoadMachinePolicy reads the machine policy from DefaultPolicyPath. A
// missing file is an empty policy.
func LoadMachinePolicy() (*Policy, error) {
	return LoadPolicy(DefaultPolicyPath())
}
