module github.com/kyso-vn/kyso/tools/pdfeval

go 1.26

require (
	github.com/digitorus/pdf v0.1.2 // indirect
	github.com/pdfcpu/pdfcpu v0.15.0 // indirect
)
