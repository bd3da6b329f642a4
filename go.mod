module github.com/kyso-vn/kyso

go 1.26

require (
	github.com/miekg/pkcs11 v1.1.2
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require golang.org/x/crypto v0.11.0 // indirect
