/*
 * waitdrv - test driver that reports exactly what C_WaitForSlotEvent returns.
 *
 * miekg/pkcs11 drops the CK_RV of C_WaitForSlotEvent, and cgo is not allowed
 * in Go test files, so the tests run this tiny program instead. It also gives
 * the wait a fresh process, i.e. a freshly initialised module.
 *
 * usage: waitdrv MODULE block|noblock|finalize
 *   block     blocking wait
 *   noblock   wait with CKF_DONT_BLOCK
 *   finalize  blocking wait in a thread, C_Finalize from the main thread
 * prints: rv=0x<hex> slot=<decimal>
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;

struct function_list {
	unsigned char major, minor;
	void *fn[68];
};

typedef CK_RV (*get_list_fn)(struct function_list **);
typedef CK_RV (*init_fn)(void *);
typedef CK_RV (*wait_fn)(CK_ULONG, CK_ULONG *, void *);

enum { IDX_INITIALIZE = 0, IDX_FINALIZE = 1, IDX_WAIT = 67 };

static struct function_list *list;
static CK_RV wait_rv;
static CK_ULONG wait_slot;

static void *waiter(void *arg)
{
	(void)arg;
	wait_rv = ((wait_fn)list->fn[IDX_WAIT])(0, &wait_slot, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec pause = {0, 300 * 1000000L};
	pthread_t thread;
	get_list_fn get;
	void *lib;
	CK_RV rv;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE block|noblock|finalize\n",
			argv[0]);
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	get = (get_list_fn)dlsym(lib, "C_GetFunctionList");
	if (!get || get(&list) != 0) {
		fprintf(stderr, "C_GetFunctionList failed\n");
		return 1;
	}
	/* NULL arguments: the module must still make the target thread-safe. */
	rv = ((init_fn)list->fn[IDX_INITIALIZE])(NULL);
	if (rv != 0) {
		fprintf(stderr, "C_Initialize: 0x%lx\n", rv);
		return 1;
	}
	if (strcmp(argv[2], "finalize") == 0) {
		pthread_create(&thread, NULL, waiter, NULL);
		nanosleep(&pause, NULL);
		rv = ((init_fn)list->fn[IDX_FINALIZE])(NULL);
		if (rv != 0)
			fprintf(stderr, "C_Finalize: 0x%lx\n", rv);
		pthread_join(thread, NULL);
	} else {
		wait_rv = ((wait_fn)list->fn[IDX_WAIT])(
			strcmp(argv[2], "noblock") == 0 ? 1 : 0, &wait_slot,
			NULL);
	}
	printf("rv=0x%lx slot=%lu\n", wait_rv, wait_slot);
	return 0;
}
