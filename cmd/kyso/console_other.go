//go:build !windows

package main

// hideOwnConsole is for Windows, where a console program started from the
// Run key gets a console window of its own.
func hideOwnConsole() {}
