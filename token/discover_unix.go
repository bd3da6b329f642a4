//go:build !windows

package token

func defaultModuleDirs() []string {
	return []string{
		"/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu",
		"/usr/lib/pkcs11", "/usr/lib64/pkcs11", "/usr/lib/x86_64-linux-gnu/pkcs11",
		"/usr/lib/softhsm", "/usr/lib/x86_64-linux-gnu/softhsm", "/usr/lib64/softhsm",
		"/opt/bit4id/lib", "/opt/Bit4id/universal_middleware/lib",
		"/opt/eToken/lib", "/usr/lib/eToken",
	}
}

// defaultModuleNames are the PKCS#11 modules Vietnamese CAs and common token
// vendors install on Linux.
func defaultModuleNames() []string {
	return []string{
		"libbit4xpki.so", "libeToken.so", "libeTPkcs11.so", "libeps2003csp11.so",
		"fptca_v4.so", "opensc-pkcs11.so", "libsofthsm2.so",
	}
}
