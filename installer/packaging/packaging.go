// Package packaging holds the source files of kyso's installable packages
// — the nfpm configuration (.deb, .rpm), the WiX descriptor (.msi), the
// manual page, the application-menu entry, the scalable icon and the
// maintainer scripts — so that the build (installer/dist) reads them from
// the binary that runs it instead of from a working directory it would
// have to find.
//
// What these files contain and why is explained in the files themselves
// and in docs/deployment.md ("Packages"). The autostart entries are not
// here: their one template is in package installer, which `kyso service
// install` uses too.
package packaging

import "embed"

// Files are the packaging sources, by their names in this folder.
//
//go:embed kyso.1 kyso.desktop kyso.svg nfpm.yaml.tmpl kyso.wxs.tmpl scripts
var Files embed.FS
