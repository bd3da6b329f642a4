//go:build !kysotest

package main

import "flag"

// registerTestFlags adds nothing to the shipped binary: it cannot be told
// to answer its own dialogs.
func registerTestFlags(*flag.FlagSet, *serveFlags) {}
