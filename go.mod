module github.com/kyso-vn/kyso

go 1.26

require (
	fyne.io/systray v1.12.2
	github.com/digitorus/pkcs7 v0.0.0-20230713084857-e76b763bdc49
	github.com/digitorus/timestamp v0.0.0-20231217203849-220c5c2851b7
	github.com/godbus/dbus/v5 v5.1.0
	github.com/gorilla/websocket v1.5.3
	github.com/kardianos/service v1.3.0
	github.com/miekg/pkcs11 v1.1.2
	github.com/ncruces/zenity v0.10.14
	github.com/rogpeppe/go-internal v1.16.0
	golang.org/x/crypto v0.11.0
	golang.org/x/sys v0.38.0
	golang.org/x/term v0.37.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require (
	github.com/akavel/rsrc v0.10.2 // indirect
	github.com/dchest/jsmin v0.0.0-20220218165748-59f39799265f // indirect
	github.com/josephspurrier/goversioninfo v1.4.1 // indirect
	github.com/randall77/makefat v0.0.0-20210315173500-7ddd0e42c844 // indirect
	golang.org/x/image v0.20.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)
