package main

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// hideOwnConsole closes the console window Windows opened for kyso run
// when it was started from the Run key or a shortcut (kyso.exe is a
// console program, so that the other subcommands print in cmd.exe). A
// console shared with a shell that started kyso run is left alone.
func hideOwnConsole() {
	kernel32 := windows.NewLazySystemDLL("kernel32.dll")
	list := kernel32.NewProc("GetConsoleProcessList")
	free := kernel32.NewProc("FreeConsole")
	if list.Find() != nil || free.Find() != nil {
		return
	}
	var pids [2]uint32
	// The count of processes attached to this console: 1 means it is
	// ours alone, opened for us.
	n, _, _ := list.Call(uintptr(unsafe.Pointer(&pids[0])), uintptr(len(pids)))
	if n == 1 {
		free.Call()
	}
}
