package token

/*
#cgo linux LDFLAGS: -ldl
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

// Only the few PKCS#11 declarations this file needs. CK_ULONG is the C
// "unsigned long" on every platform (32 bits on Windows, 64 on Linux/amd64).
typedef unsigned long ck_ulong;
typedef ck_ulong (*ck_get_function_list)(void **list);
typedef ck_ulong (*ck_login)(ck_ulong session, ck_ulong user_type, unsigned char *pin, ck_ulong pin_len);
typedef ck_ulong (*ck_wait_for_slot_event)(ck_ulong flags, ck_ulong *slot, void *reserved);

// Index of a function in CK_FUNCTION_LIST (PKCS#11 v2.40 order).
enum { fn_login = 18, fn_wait_for_slot_event = 67 };

// kyso_fn reads entry i of a CK_FUNCTION_LIST. The list starts with a
// two-byte CK_VERSION; Windows modules pack the structure to 1-byte
// alignment, everywhere else the pointers are naturally aligned.
static void *kyso_fn(void *list, int i) {
	void *fn;
#ifdef _WIN32
	size_t off = 2;
#else
	size_t off = sizeof(void *);
#endif
	memcpy(&fn, (char *)list + off + (size_t)i * sizeof(void *), sizeof fn);
	return fn;
}

// kyso_open loads the library (the loader returns the handle miekg/pkcs11
// already holds when the path is the same) and fetches its function list.
// On failure it writes a description into err.
static void *kyso_open(const char *path, char *err, size_t errlen) {
	void *list = NULL;
	ck_get_function_list get;
#ifdef _WIN32
	HMODULE h = LoadLibraryA(path);
	if (h == NULL) {
		snprintf(err, errlen, "LoadLibrary failed with Windows error %lu", (unsigned long)GetLastError());
		return NULL;
	}
	get = (ck_get_function_list)GetProcAddress(h, "C_GetFunctionList");
#else
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "dlopen failed");
		return NULL;
	}
	get = (ck_get_function_list)dlsym(h, "C_GetFunctionList");
#endif
	if (get == NULL) {
		snprintf(err, errlen, "the library has no C_GetFunctionList symbol (not a PKCS#11 module)");
		return NULL;
	}
	ck_ulong rv = get(&list);
	if (rv != 0 || list == NULL) {
		snprintf(err, errlen, "C_GetFunctionList returned 0x%lx", (unsigned long)rv);
		return NULL;
	}
	return list;
}

static ck_ulong kyso_login(void *list, ck_ulong session, ck_ulong user_type, unsigned char *pin, ck_ulong pin_len) {
	ck_login f = (ck_login)kyso_fn(list, fn_login);
	return f(session, user_type, pin, pin_len);
}

static ck_ulong kyso_wait_for_slot_event(void *list, ck_ulong flags, ck_ulong *slot) {
	ck_wait_for_slot_event f = (ck_wait_for_slot_event)kyso_fn(list, fn_wait_for_slot_event);
	if (f == NULL) return 0x54; // CKR_FUNCTION_NOT_SUPPORTED
	return f(flags, slot, NULL);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// rawModule calls the two PKCS#11 functions that miekg/pkcs11 wraps in a way
// kyso cannot use: its Login copies the PIN into a C string it frees without
// wiping, and its WaitForSlotEvent drops the return value, so "not
// supported" and "no event" look like an event on slot 0. Everything else
// goes through miekg/pkcs11.
type rawModule struct {
	list unsafe.Pointer // CK_FUNCTION_LIST_PTR, valid for the life of the process
}

// openRaw loads the library at path and returns its function list. Its error
// carries the loader's own description (dlerror or the Windows error code),
// which miekg/pkcs11.New discards.
func openRaw(path string) (rawModule, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	list := C.kyso_open(cpath, &buf[0], C.size_t(len(buf)))
	if list == nil {
		return rawModule{}, errors.New(C.GoString(&buf[0]))
	}
	return rawModule{list: list}, nil
}

// login calls C_Login with the caller's buffer itself, so the only copy of
// the PIN is one the caller can wipe. A nil or empty pin is passed as
// NULL_PTR, which is what a protected authentication path (pinpad) expects.
func (r rawModule) login(session, userType uint, pin []byte) uint {
	var p *C.uchar
	if len(pin) > 0 {
		p = (*C.uchar)(unsafe.Pointer(&pin[0]))
	}
	return uint(C.kyso_login(r.list, C.ck_ulong(session), C.ck_ulong(userType), p, C.ck_ulong(len(pin))))
}

// waitForSlotEvent calls C_WaitForSlotEvent and returns its result code and
// the slot it names.
func (r rawModule) waitForSlotEvent(flags uint) (rv uint, slot uint) {
	var s C.ck_ulong
	rv = uint(C.kyso_wait_for_slot_event(r.list, C.ck_ulong(flags), &s))
	return rv, uint(s)
}
