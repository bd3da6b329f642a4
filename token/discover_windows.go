package token

import (
	"os"
	"path/filepath"
	"strconv"
)

func defaultModuleDirs() []string {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	// SysWOW64 holds 32-bit modules, which a 64-bit process cannot load; they
	// are still listed so the report can say why a vendor's module failed.
	return []string{filepath.Join(root, "System32"), filepath.Join(root, "SysWOW64")}
}

// defaultModuleNames are the PKCS#11 modules that Vietnamese CAs and common
// token vendors install on Windows.
func defaultModuleNames() []string {
	names := []string{
		"vnpt-ca_csp11.dll", "vnpt-ca_cl_v1.dll", "vnpt-ca_v34.dll", "VNPTCACardv8csp11.dll",
		"viettel-ca.dll", "fpt-ca.dll", "fpt-ca-stx.dll",
		"BkavCA.dll", "BkavCAv2S.dll", "BkavCA_P11.dll", "st3csp11.dll",
		"CA2_csp11.dll", "CA2_v34.dll", "ncca_csp11_v1.dll", "Safe-ca_v1.dll", "Safe-ca_v2.dll",
		"efy-ca_v1.dll", "vina-ca_v1.dll", "vina-ca_v3.dll", "vina-ca_v5.dll", "newca_v4.dll",
		"misaca_csp11_v2.dll", "eca_csp11_v1.dll", "fca_v1.dll", "gclib.dll",
		"ShuttleCsp11_3003.dll", "eps2003csp11.dll", "WDPKCS.dll", "eTPKCS11.dll",
		"bit4xpki.dll", "IDPrimePKCS1164.dll", "aetpkss1.dll", "opensc-pkcs11.dll",
	}
	for i := 1; i <= 6; i++ {
		names = append(names, "viettel-ca_v"+strconv.Itoa(i)+".dll")
	}
	for i := 6; i <= 10; i++ {
		names = append(names, "vnptca_p11_v"+strconv.Itoa(i)+".dll")
	}
	for i := 3; i <= 6; i++ {
		names = append(names, "fptca_v"+strconv.Itoa(i)+".dll")
	}
	for i := 4; i <= 9; i++ {
		names = append(names, "nca_v"+strconv.Itoa(i)+".dll")
	}
	return names
}
