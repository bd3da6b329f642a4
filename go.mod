module github.com/kyso-vn/kyso

go 1.26

require (
	github.com/digitorus/pkcs7 v0.0.0-20230713084857-e76b763bdc49
	github.com/digitorus/timestamp v0.0.0-20231217203849-220c5c2851b7
	github.com/miekg/pkcs11 v1.1.2
	github.com/rogpeppe/go-internal v1.16.0
	golang.org/x/crypto v0.11.0
	golang.org/x/term v0.37.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)
