module github.com/kyso-vn/kyso/tools/pdfeval

go 1.26

require (
	github.com/digitorus/pdf v0.1.2
	github.com/kyso-vn/kyso v0.0.0-00010101000000-000000000000
	github.com/pdfcpu/pdfcpu v0.15.0
)

require (
	github.com/clipperhouse/uax29/v2 v2.7.0 // indirect
	github.com/hhrutter/tiff v1.0.6 // indirect
	github.com/mattn/go-runewidth v0.0.27 // indirect
	github.com/miekg/pkcs11 v1.1.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/image v0.44.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	software.sslmate.com/src/go-pkcs12 v0.7.4 // indirect
)

// The corpus generator lives in the main module next door; this tool is a
// separate module so that neither library under evaluation becomes a
// dependency of kyso.
replace github.com/kyso-vn/kyso => ../..
