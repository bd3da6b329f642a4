package token

import (
	"debug/elf"
	"debug/pe"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// loaded is the process-wide set of PKCS#11 libraries, keyed by resolved
// path. It is the package's one piece of mutable global state, on purpose:
// PKCS#11 is process-global by design (C_Initialize and C_Finalize act on the
// whole process) and several vendor modules crash when they are initialised
// or finalised twice. So each library is loaded and initialised once per
// process, shared by every Manager, and never finalised.
var loaded = struct {
	sync.Mutex
	mods map[string]*module
}{mods: map[string]*module{}}

// module is one loaded and initialised PKCS#11 library.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	raw  rawModule
	info pkcs11.Info
	// waitSupported: C_WaitForSlotEvent works, so slot changes are pushed
	// rather than polled.
	waitSupported atomic.Bool

	evMu sync.Mutex
	subs map[chan struct{}]struct{}
}

// loadModule returns the process's instance of the library at path, loading
// and initialising it on first use. A library that fails to load is not
// remembered, so a driver installed later is picked up by the next attempt.
func loadModule(path string) (*module, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve path: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("module file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("module file %s is not a regular file", abs)
	}
	key := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		key = r
	}

	loaded.Lock()
	defer loaded.Unlock()
	if m, ok := loaded.mods[key]; ok {
		return m, nil
	}
	raw, err := openRaw(key)
	if err != nil {
		if why := archProblem(key); why != "" {
			return nil, fmt.Errorf("%s (%v)", why, err)
		}
		return nil, err
	}
	ctx := pkcs11.New(key)
	if ctx == nil {
		return nil, errors.New("the library loaded once but not a second time")
	}
	if err := ctx.Initialize(); err != nil && rvOf(err) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		return nil, fmt.Errorf("C_Initialize failed: %s", RVName(rvOf(err)))
	}
	info, err := ctx.GetInfo()
	if err != nil {
		return nil, fmt.Errorf("C_GetInfo failed: %s", RVName(rvOf(err)))
	}
	m := &module{path: key, ctx: ctx, raw: raw, info: info, subs: map[chan struct{}]struct{}{}}
	if rv, _ := raw.waitForSlotEvent(pkcs11.CKF_DONT_BLOCK); rv != pkcs11.CKR_FUNCTION_NOT_SUPPORTED {
		m.startWaiting()
	}
	loaded.mods[key] = m
	return m, nil
}

func (m *module) status() ModuleStatus {
	ev := "poll"
	if m.waitSupported.Load() {
		ev = "wait"
	}
	return ModuleStatus{
		Path:            m.path,
		Loaded:          true,
		Manufacturer:    trimPad(m.info.ManufacturerID),
		Description:     trimPad(m.info.LibraryDescription),
		CryptokiVersion: fmt.Sprintf("%d.%d", m.info.CryptokiVersion.Major, m.info.CryptokiVersion.Minor),
		LibraryVersion:  fmt.Sprintf("%d.%d", m.info.LibraryVersion.Major, m.info.LibraryVersion.Minor),
		SlotEvents:      ev,
	}
}

// startWaiting starts the goroutine that blocks in C_WaitForSlotEvent for
// the module, and gives the module a moment to refuse: some modules (SoftHSM
// among them) answer a non-blocking probe but refuse a blocking wait, and
// the only way to know is to try.
func (m *module) startWaiting() {
	first := make(chan uint, 1)
	m.waitSupported.Store(true)
	go m.waitLoop(first)
	select {
	case <-first:
	case <-time.After(100 * time.Millisecond):
		// Still blocked: the module waits for real events.
	}
}

// subscribe returns a channel that receives a value after every slot event.
// The channel is closed when the module turns out not to support waiting,
// and is nil when it is known not to; callers then poll. One goroutine per
// module waits and fans events out, because a second blocking waiter on the
// same module would steal events from the first.
func (m *module) subscribe() (<-chan struct{}, func()) {
	m.evMu.Lock()
	defer m.evMu.Unlock()
	if !m.waitSupported.Load() {
		return nil, func() {}
	}
	ch := make(chan struct{}, 1)
	m.subs[ch] = struct{}{}
	return ch, func() {
		m.evMu.Lock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
		m.evMu.Unlock()
	}
}

// waitLoop blocks in C_WaitForSlotEvent for the life of the process; the
// module is never finalised, so there is nothing that could wake it for a
// shutdown.
func (m *module) waitLoop(first chan<- uint) {
	for {
		rv, _ := m.raw.waitForSlotEvent(0)
		refused := rv == pkcs11.CKR_FUNCTION_NOT_SUPPORTED || rv == pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED
		if refused {
			// Before signalling startWaiting, so the status it leads to is
			// already right.
			m.waitSupported.Store(false)
		}
		if first != nil {
			first <- rv
			first = nil
		}
		switch {
		case rv == pkcs11.CKR_OK:
		case refused:
			m.evMu.Lock()
			for ch := range m.subs {
				delete(m.subs, ch)
				close(ch)
			}
			m.evMu.Unlock()
			return
		default:
			// A wait that fails keeps failing fast; rescan once a second,
			// the rate used for modules without events.
			time.Sleep(time.Second)
		}
		m.evMu.Lock()
		for ch := range m.subs {
			select {
			case ch <- struct{}{}:
			default: // a rescan is already pending for that subscriber
			}
		}
		m.evMu.Unlock()
	}
}

// archProblem explains why a library cannot load into this process when the
// reason is its format or architecture, the most common failure in the
// field (32-bit vendor DLLs in SysWOW64, a Windows DLL copied to Linux).
func archProblem(path string) string {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		if runtime.GOOS == "windows" {
			return "the file is a Linux/Unix library (ELF), not a Windows DLL"
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "386": elf.EM_386, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}[runtime.GOARCH]
		if want != 0 && f.Machine != want {
			return fmt.Sprintf("wrong architecture: the library is built for %s, this program is %s", f.Machine, runtime.GOARCH)
		}
		return ""
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		if runtime.GOOS != "windows" {
			return "the file is a Windows DLL and cannot be loaded on " + runtime.GOOS
		}
		names := map[uint16]string{pe.IMAGE_FILE_MACHINE_I386: "386 (32-bit)", pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}
		want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "386": pe.IMAGE_FILE_MACHINE_I386, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[runtime.GOARCH]
		if want != 0 && f.Machine != want {
			n := names[f.Machine]
			if n == "" {
				n = fmt.Sprintf("machine 0x%x", f.Machine)
			}
			return fmt.Sprintf("wrong architecture: the DLL is built for %s, this program is %s", n, runtime.GOARCH)
		}
		return ""
	}
	return "the file is not a shared library"
}
