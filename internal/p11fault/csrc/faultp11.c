/*
 * faultp11 - a fault-injecting PKCS#11 v2.40 module for tests.
 *
 * The module forwards every PKCS#11 call to a real target module (SoftHSM by
 * default) and bends the answers according to a small control file, so tests
 * can exercise behaviour SoftHSM does not have: PIN lockout, token removal,
 * slot events, pinpad readers, always-authenticate keys, slow signatures and
 * arbitrary error codes.
 *
 * Control file: $FAULTP11_CONTROL, or "<realpath of this .so>.conf". It is
 * re-read on every call (it is tiny), so tests steer the module by rewriting
 * it atomically. Format: "key=value" lines, whole-line "#" comments, keys and
 * values trimmed of surrounding blanks, unknown keys ignored, missing file =
 * pure pass-through. See the Go package p11fault for the list of keys.
 *
 * Session handles handed to the application are virtual: the module maps them
 * to the target's handles. That way a handle issued before a simulated removal
 * stays invalid forever, even if the target later reuses the same number.
 *
 * Linux only. Everything here is declared locally on purpose: the few
 * PKCS#11 types we need are plain unsigned longs, pointers and structs whose
 * layout (no packing on Linux) was checked against the v2.40 headers.
 */
#define _GNU_SOURCE /* dladdr */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- Minimal PKCS#11 declarations ------------------------------------- */

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_BBOOL;

struct ck_version {
	unsigned char major, minor;
};

struct ck_slot_info {
	unsigned char slot_description[64];
	unsigned char manufacturer_id[32];
	CK_FLAGS flags;
	struct ck_version hardware_version, firmware_version;
};

struct ck_token_info {
	unsigned char label[32];
	unsigned char manufacturer_id[32];
	unsigned char model[16];
	unsigned char serial_number[16];
	CK_FLAGS flags;
	CK_ULONG max_session_count, session_count;
	CK_ULONG max_rw_session_count, rw_session_count;
	CK_ULONG max_pin_len, min_pin_len;
	CK_ULONG total_public_memory, free_public_memory;
	CK_ULONG total_private_memory, free_private_memory;
	struct ck_version hardware_version, firmware_version;
	unsigned char utc_time[16];
};

struct ck_attribute {
	CK_ULONG type;
	void *value;
	CK_ULONG value_len;
};

struct ck_init_args {
	void *create_mutex, *destroy_mutex, *lock_mutex, *unlock_mutex;
	CK_FLAGS flags;
	void *reserved;
};

/* Only ever passed through by pointer, so they can stay incomplete. */
struct ck_info;
struct ck_session_info;
struct ck_mechanism;
struct ck_mechanism_info;

typedef CK_RV (*ck_notify)(CK_SESSION_HANDLE, CK_ULONG, void *);

/* Same layout as CK_FUNCTION_LIST: version, then 68 function pointers. */
struct function_list {
	unsigned char major, minor;
	void *fn[68];
};

#define CKR_OK 0x0UL
#define CKR_HOST_MEMORY 0x2UL
#define CKR_GENERAL_ERROR 0x5UL
#define CKR_ARGUMENTS_BAD 0x7UL
#define CKR_NO_EVENT 0x8UL
#define CKR_ATTRIBUTE_SENSITIVE 0x11UL
#define CKR_ATTRIBUTE_TYPE_INVALID 0x12UL
#define CKR_DEVICE_REMOVED 0x32UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_OPERATION_NOT_INITIALIZED 0x91UL
#define CKR_PIN_INCORRECT 0xA0UL
#define CKR_PIN_LOCKED 0xA4UL
#define CKR_SESSION_HANDLE_INVALID 0xB3UL
#define CKR_TOKEN_NOT_PRESENT 0xE0UL
#define CKR_USER_NOT_LOGGED_IN 0x101UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL

#define CKF_TOKEN_PRESENT 0x1UL
#define CKF_PROTECTED_AUTHENTICATION_PATH 0x100UL
#define CKF_USER_PIN_COUNT_LOW 0x10000UL
#define CKF_USER_PIN_FINAL_TRY 0x20000UL
#define CKF_USER_PIN_LOCKED 0x40000UL
#define CKF_OS_LOCKING_OK 0x2UL
#define CKF_DONT_BLOCK 0x1UL

#define CKU_USER 1UL
#define CKU_CONTEXT_SPECIFIC 2UL
#define CKA_CLASS 0x0UL
#define CKA_ALWAYS_AUTHENTICATE 0x202UL
#define CKO_PRIVATE_KEY 0x3UL
#define CK_UNAVAILABLE_INFORMATION (~0UL)

/*
 * The 68 functions in CK_FUNCTION_LIST order (checked by counting the
 * CK_PKCS11_FUNCTION_INFO entries of pkcs11f.h). One X-macro feeds the index
 * enum, the name table used for logging and "fail." keys, and the list.
 */
#define FUNCTIONS(X)                                                          \
	X(Initialize)                                                         \
	X(Finalize)                                                           \
	X(GetInfo)                                                            \
	X(GetFunctionList)                                                    \
	X(GetSlotList)                                                        \
	X(GetSlotInfo)                                                        \
	X(GetTokenInfo)                                                       \
	X(GetMechanismList)                                                   \
	X(GetMechanismInfo)                                                   \
	X(InitToken)                                                          \
	X(InitPIN)                                                            \
	X(SetPIN)                                                             \
	X(OpenSession)                                                        \
	X(CloseSession)                                                       \
	X(CloseAllSessions)                                                   \
	X(GetSessionInfo)                                                     \
	X(GetOperationState)                                                  \
	X(SetOperationState)                                                  \
	X(Login)                                                              \
	X(Logout)                                                             \
	X(CreateObject)                                                       \
	X(CopyObject)                                                         \
	X(DestroyObject)                                                      \
	X(GetObjectSize)                                                      \
	X(GetAttributeValue)                                                  \
	X(SetAttributeValue)                                                  \
	X(FindObjectsInit)                                                    \
	X(FindObjects)                                                        \
	X(FindObjectsFinal)                                                   \
	X(EncryptInit)                                                        \
	X(Encrypt)                                                            \
	X(EncryptUpdate)                                                      \
	X(EncryptFinal)                                                       \
	X(DecryptInit)                                                        \
	X(Decrypt)                                                            \
	X(DecryptUpdate)                                                      \
	X(DecryptFinal)                                                       \
	X(DigestInit)                                                         \
	X(Digest)                                                             \
	X(DigestUpdate)                                                       \
	X(DigestKey)                                                          \
	X(DigestFinal)                                                        \
	X(SignInit)                                                           \
	X(Sign)                                                               \
	X(SignUpdate)                                                         \
	X(SignFinal)                                                          \
	X(SignRecoverInit)                                                    \
	X(SignRecover)                                                        \
	X(VerifyInit)                                                         \
	X(Verify)                                                             \
	X(VerifyUpdate)                                                       \
	X(VerifyFinal)                                                        \
	X(VerifyRecoverInit)                                                  \
	X(VerifyRecover)                                                      \
	X(DigestEncryptUpdate)                                                \
	X(DecryptDigestUpdate)                                                \
	X(SignEncryptUpdate)                                                  \
	X(DecryptVerifyUpdate)                                                \
	X(GenerateKey)                                                        \
	X(GenerateKeyPair)                                                    \
	X(WrapKey)                                                            \
	X(UnwrapKey)                                                          \
	X(DeriveKey)                                                          \
	X(SeedRandom)                                                         \
	X(GenerateRandom)                                                     \
	X(GetFunctionStatus)                                                  \
	X(CancelFunction)                                                     \
	X(WaitForSlotEvent)

#define X_ENUM(n) F_##n,
enum fn_index { FUNCTIONS(X_ENUM) F_COUNT };
#undef X_ENUM

_Static_assert(F_COUNT == 68, "PKCS#11 v2.40 has 68 functions");
_Static_assert(sizeof(((struct function_list *)0)->fn) / sizeof(void *) ==
		       F_COUNT,
	       "function list size");

#define X_NAME(n) "C_" #n,
static const char *const fn_names[F_COUNT] = {FUNCTIONS(X_NAME)};
#undef X_NAME

/* Typed views of the target entries this file calls itself. */
typedef CK_RV (*t_Initialize)(void *);
typedef CK_RV (*t_Finalize)(void *);
typedef CK_RV (*t_GetFunctionList)(struct function_list **);
typedef CK_RV (*t_GetSlotList)(CK_BBOOL, CK_SLOT_ID *, CK_ULONG *);
typedef CK_RV (*t_GetSlotInfo)(CK_SLOT_ID, struct ck_slot_info *);
typedef CK_RV (*t_GetTokenInfo)(CK_SLOT_ID, struct ck_token_info *);
typedef CK_RV (*t_OpenSession)(CK_SLOT_ID, CK_FLAGS, void *, ck_notify,
			       CK_SESSION_HANDLE *);
typedef CK_RV (*t_CloseSession)(CK_SESSION_HANDLE);
typedef CK_RV (*t_CloseAllSessions)(CK_SLOT_ID);
typedef CK_RV (*t_Login)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_BYTE *,
			 CK_ULONG);
typedef CK_RV (*t_GetAttributeValue)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE,
				     struct ck_attribute *, CK_ULONG);
typedef CK_RV (*t_SignInit)(CK_SESSION_HANDLE, struct ck_mechanism *,
			    CK_OBJECT_HANDLE);
typedef CK_RV (*t_Sign)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *,
			CK_ULONG *);
typedef CK_RV (*t_SignFinal)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG *);

/* TARGET(Name) yields the target's entry with its proper type, or NULL. */
#define TARGET(name) ((t_##name)target_fn(F_##name))

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define POLL_MS 20
#define PIN_MAX 256

/* ---- Control file ----------------------------------------------------- */

struct control {
	char target[PATH_MAX];
	char log[PATH_MAX];
	int present;
	int has_pin;
	char pin[PIN_MAX];
	long max_tries;
	long epoch;
	long sign_delay_ms;
	int always_auth;
	int pinpad;
	int wait_events;
	unsigned char fail_set[F_COUNT];
	CK_RV fail_rv[F_COUNT];
};

/* ---- Module state ----------------------------------------------------- */

struct session {
	CK_SESSION_HANDLE vh;	/* handle the application sees */
	CK_SESSION_HANDLE th;	/* handle of the target */
	CK_SLOT_ID slot;
	unsigned long gen;	/* removal generation at open */
	int need_ctx;		/* active sign op needs CKU_CONTEXT_SPECIFIC */
	int ctx_ok;		/* ... and got it */
};

/*
 * All mutable state lives in one struct guarded by mu. mu is never held while
 * a potentially slow target call (signing, login, a blocking wait) runs; the
 * only target calls made under it are the quick C_GetSlotList and
 * C_CloseAllSessions that emulate a removal, so that no session can be opened
 * half-way through one.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t waiters_gone;
	pthread_mutex_t log_mu;
	pthread_mutex_t load_mu;
	pthread_once_t path_once;
	char control_path[PATH_MAX + 8];

	void *lib;
	struct function_list *target; /* accessed atomically */
	int load_failed_reported;

	int initialized;
	int waiters;
	int last_present;	/* presence seen by the previous control read */
	unsigned long gen;	/* bumped on every observed removal */
	int reported_present;	/* presence last reported by WaitForSlotEvent */
	long epoch;
	long pin_failures;

	struct session *sess;
	size_t nsess, capsess;
	CK_SESSION_HANDLE next_vh;
} g = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.waiters_gone = PTHREAD_COND_INITIALIZER,
	.log_mu = PTHREAD_MUTEX_INITIALIZER,
	.load_mu = PTHREAD_MUTEX_INITIALIZER,
	.path_once = PTHREAD_ONCE_INIT,
	.last_present = 1,
	.reported_present = 1,
	.next_vh = 1,
};

static void *target_fn(enum fn_index i)
{
	struct function_list *t = __atomic_load_n(&g.target, __ATOMIC_ACQUIRE);

	return t ? t->fn[i] : NULL;
}

/* Error to report when a target entry is unavailable. */
static CK_RV missing_target(void)
{
	return __atomic_load_n(&g.target, __ATOMIC_ACQUIRE)
		       ? CKR_FUNCTION_NOT_SUPPORTED
		       : CKR_CRYPTOKI_NOT_INITIALIZED;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * The control path is derived from where this very file was loaded from, so
 * that a copy of the .so under another name is steered independently.
 */
static void init_control_path(void)
{
	const char *env = getenv("FAULTP11_CONTROL");
	Dl_info info;
	char real[PATH_MAX];

	if (env && *env) {
		copy_str(g.control_path, sizeof(g.control_path), env);
		return;
	}
	memset(&info, 0, sizeof(info));
	if (dladdr((void *)&init_control_path, &info) == 0 ||
	    info.dli_fname == NULL) {
		copy_str(g.control_path, sizeof(g.control_path),
			 "faultp11.so.conf");
		return;
	}
	/* Absolute, so a later chdir of the application changes nothing. */
	if (realpath(info.dli_fname, real) == NULL)
		copy_str(real, sizeof(real), info.dli_fname);
	snprintf(g.control_path, sizeof(g.control_path), "%s.conf", real);
}

static const char *control_path(void)
{
	pthread_once(&g.path_once, init_control_path);
	return g.control_path;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int parse_bool(const char *v)
{
	return strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
	       strcmp(v, "yes") == 0 || strcmp(v, "on") == 0;
}

static int parse_long(const char *v, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return 0;
	*out = n;
	return 1;
}

/* CK_RV values are written in hex ("0x6") or decimal ("6"), never octal. */
static int parse_rv(const char *v, CK_RV *out)
{
	int base = 10;
	char *end;
	unsigned long n;

	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		v += 2;
		base = 16;
	}
	if (*v == '\0' || *v == '-')
		return 0;
	errno = 0;
	n = strtoul(v, &end, base);
	if (errno != 0 || *end != '\0')
		return 0;
	*out = n;
	return 1;
}

static int fn_lookup(const char *name)
{
	int i;

	for (i = 0; i < F_COUNT; i++)
		if (strcmp(fn_names[i], name) == 0)
			return i;
	return -1;
}

static void set_key(struct control *c, const char *k, const char *v)
{
	long n;
	CK_RV rv;
	int i;

	if (strcmp(k, "target") == 0) {
		copy_str(c->target, sizeof(c->target), v);
	} else if (strcmp(k, "log") == 0) {
		copy_str(c->log, sizeof(c->log), v);
	} else if (strcmp(k, "present") == 0) {
		c->present = parse_bool(v);
	} else if (strcmp(k, "pin") == 0) {
		copy_str(c->pin, sizeof(c->pin), v);
		c->has_pin = 1;
	} else if (strcmp(k, "max_tries") == 0) {
		if (parse_long(v, &n))
			c->max_tries = n > 0 ? n : 0;
	} else if (strcmp(k, "epoch") == 0) {
		if (parse_long(v, &n))
			c->epoch = n;
	} else if (strcmp(k, "sign_delay_ms") == 0) {
		if (parse_long(v, &n))
			c->sign_delay_ms = n > 0 ? n : 0;
	} else if (strcmp(k, "always_auth") == 0) {
		c->always_auth = parse_bool(v);
	} else if (strcmp(k, "pinpad") == 0) {
		c->pinpad = parse_bool(v);
	} else if (strcmp(k, "wait_events") == 0) {
		c->wait_events = parse_bool(v);
	} else if (strncmp(k, "fail.", 5) == 0) {
		i = fn_lookup(k + 5);
		if (i >= 0 && parse_rv(v, &rv)) {
			c->fail_set[i] = 1;
			c->fail_rv[i] = rv;
		}
	}
}

static void parse_control(struct control *c, char *buf)
{
	char *line = buf, *next, *eq;

	for (; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		set_key(c, trim(line), trim(eq + 1));
	}
}

static void read_control_file(struct control *c)
{
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	int fd;

	memset(c, 0, sizeof(*c));
	c->present = 1;
	fd = open(control_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no file: pure pass-through */
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	parse_control(c, buf);
}

/* Emulates a real removal: the token forgets all sessions and logins. */
static void close_all_target_sessions_locked(void)
{
	t_GetSlotList list = TARGET(GetSlotList);
	t_CloseAllSessions close_all = TARGET(CloseAllSessions);
	CK_SLOT_ID *slots;
	CK_ULONG n = 0, i;

	if (!list || !close_all || list(0, NULL, &n) != CKR_OK || n == 0)
		return;
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return;
	if (list(0, slots, &n) == CKR_OK)
		for (i = 0; i < n; i++)
			close_all(slots[i]);
	free(slots);
}

/*
 * Reads the control file and applies its edge-triggered effects: an epoch
 * change resets the PIN counter, a 1->0 presence change is a removal.
 */
static void load_control(struct control *c)
{
	read_control_file(c);
	pthread_mutex_lock(&g.mu);
	if (c->epoch != g.epoch) {
		g.epoch = c->epoch;
		g.pin_failures = 0;
	}
	if (!c->present && g.last_present) {
		g.gen++;
		if (g.initialized)
			close_all_target_sessions_locked();
	}
	g.last_present = c->present;
	pthread_mutex_unlock(&g.mu);
}

static void log_call(const struct control *c, enum fn_index i)
{
	char line[64];
	int fd, n;
	ssize_t w;

	if (c->log[0] == '\0')
		return;
	n = snprintf(line, sizeof(line), "%s\n", fn_names[i]);
	/* The mutex orders lines within this process; O_APPEND keeps whole
	 * lines from several processes sharing one log intact. */
	pthread_mutex_lock(&g.log_mu);
	fd = open(c->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		w = write(fd, line, (size_t)n);
		(void)w; /* logging is best effort */
		close(fd);
	}
	pthread_mutex_unlock(&g.log_mu);
}

/* Every wrapper starts here: fresh control, one log line. */
static void enter(enum fn_index i, struct control *c)
{
	load_control(c);
	log_call(c, i);
}

static int injected(const struct control *c, enum fn_index i, CK_RV *rv)
{
	if (!c->fail_set[i])
		return 0;
	*rv = c->fail_rv[i];
	return 1;
}

/* ---- Target loading --------------------------------------------------- */

static struct function_list g_list; /* filled in below, after the wrappers */

static CK_RV load_target(const struct control *c)
{
	const char *path = c->target;
	const char *env = getenv("FAULTP11_TARGET");
	struct function_list *list = NULL;
	t_GetFunctionList get;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (__atomic_load_n(&g.target, __ATOMIC_ACQUIRE))
		return CKR_OK;
	pthread_mutex_lock(&g.load_mu);
	if (g.target) {
		pthread_mutex_unlock(&g.load_mu);
		return CKR_OK;
	}
	if (path[0] == '\0')
		path = env && *env ? env : DEFAULT_TARGET;
	if (!g.lib)
		g.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!g.lib) {
		if (!g.load_failed_reported)
			fprintf(stderr, "faultp11: cannot load target %s: %s\n",
				path, dlerror());
		g.load_failed_reported = 1;
		goto out;
	}
	get = (t_GetFunctionList)dlsym(g.lib, "C_GetFunctionList");
	if (!get || get(&list) != CKR_OK || list == NULL) {
		if (!g.load_failed_reported)
			fprintf(stderr, "faultp11: %s has no usable "
					"C_GetFunctionList\n", path);
		g.load_failed_reported = 1;
		goto out;
	}
	/* Advertise the target's version; every entry stays our wrapper. */
	g_list.major = list->major;
	g_list.minor = list->minor;
	__atomic_store_n(&g.target, list, __ATOMIC_RELEASE);
	rv = CKR_OK;
out:
	pthread_mutex_unlock(&g.load_mu);
	return rv;
}

/* ---- Sessions --------------------------------------------------------- */

static struct session *sess_find_locked(CK_SESSION_HANDLE vh)
{
	size_t i;

	for (i = 0; i < g.nsess; i++)
		if (g.sess[i].vh == vh)
			return &g.sess[i];
	return NULL;
}

static void sess_remove_locked(struct session *s)
{
	*s = g.sess[--g.nsess];
}

/*
 * Validates an application handle. While the token is out every known
 * session answers CKR_DEVICE_REMOVED; once it is back, sessions from before
 * the removal answer CKR_SESSION_HANDLE_INVALID.
 */
static CK_RV session_get(const struct control *c, CK_SESSION_HANDLE vh,
			 struct session *out)
{
	struct session *s;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&g.mu);
	s = sess_find_locked(vh);
	if (s == NULL)
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (!c->present)
		rv = CKR_DEVICE_REMOVED;
	else if (s->gen != g.gen)
		rv = CKR_SESSION_HANDLE_INVALID;
	else
		*out = *s;
	pthread_mutex_unlock(&g.mu);
	return rv;
}

static void sign_state_set(CK_SESSION_HANDLE vh, int need_ctx, int ctx_ok)
{
	struct session *s;

	pthread_mutex_lock(&g.mu);
	s = sess_find_locked(vh);
	if (s) {
		s->need_ctx = need_ctx;
		s->ctx_ok = ctx_ok;
	}
	pthread_mutex_unlock(&g.mu);
}

/* ---- PIN counter ------------------------------------------------------ */

static int pin_locked(const struct control *c)
{
	int locked;

	pthread_mutex_lock(&g.mu);
	locked = c->max_tries > 0 && g.pin_failures >= c->max_tries;
	pthread_mutex_unlock(&g.mu);
	return locked;
}

/* Books a PIN verification result and maps the N-th failure to a lock. */
static CK_RV pin_result(const struct control *c, CK_RV rv)
{
	pthread_mutex_lock(&g.mu);
	if (rv == CKR_OK) {
		g.pin_failures = 0;
	} else if (rv == CKR_PIN_INCORRECT && c->max_tries > 0) {
		g.pin_failures++;
		if (g.pin_failures >= c->max_tries)
			rv = CKR_PIN_LOCKED;
	}
	pthread_mutex_unlock(&g.mu);
	return rv;
}

/* ---- Helpers on the target ------------------------------------------- */

static int is_private_key(CK_SESSION_HANDLE th, CK_OBJECT_HANDLE obj)
{
	t_GetAttributeValue get = TARGET(GetAttributeValue);
	CK_ULONG cls = 0;
	struct ck_attribute a = {CKA_CLASS, &cls, sizeof(cls)};

	return get && get(th, obj, &a, 1) == CKR_OK &&
	       a.value_len == sizeof(cls) && cls == CKO_PRIVATE_KEY;
}

/*
 * Ends the target's active signing operation. PKCS#11 says a failed C_Sign
 * terminates the operation, but when the module answers on the target's
 * behalf the target never saw the call; completing the operation into a
 * scratch buffer and discarding the result keeps the session usable exactly
 * like a real token's would be.
 */
static void discard_sign(CK_SESSION_HANDLE th, int final, CK_BYTE *data,
			 CK_ULONG len)
{
	t_Sign sign = TARGET(Sign);
	t_SignFinal sign_final = TARGET(SignFinal);
	CK_ULONG n = 0;
	CK_BYTE *buf;
	CK_RV rv;

	if (!sign || !sign_final)
		return;
	rv = final ? sign_final(th, NULL, &n) : sign(th, data, len, NULL, &n);
	if (rv != CKR_OK)
		return; /* an error already ended it */
	buf = malloc(n ? n : 1);
	if (buf == NULL)
		return;
	if (final)
		sign_final(th, buf, &n);
	else
		sign(th, data, len, buf, &n);
	memset(buf, 0, n);
	free(buf);
}

static int ends_operation(CK_RV rv)
{
	return rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL;
}

/*
 * Sleeps for the configured signing delay without holding any lock, checking
 * the control file every POLL_MS so that a removal cuts the signature short.
 */
static CK_RV sign_delay(long ms, CK_SESSION_HANDLE vh)
{
	long deadline = now_ms() + ms, left;
	struct control c;
	struct session s;
	CK_RV rv;

	while ((left = deadline - now_ms()) > 0) {
		sleep_ms(left < POLL_MS ? left : POLL_MS);
		load_control(&c);
		if (!c.present)
			return CKR_DEVICE_REMOVED;
		pthread_mutex_lock(&g.mu);
		rv = g.initialized ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
		pthread_mutex_unlock(&g.mu);
		if (rv != CKR_OK)
			return rv;
	}
	/* A removal and re-insertion faster than one poll still counts. */
	load_control(&c);
	rv = session_get(&c, vh, &s);
	if (rv == CKR_SESSION_HANDLE_INVALID)
		rv = CKR_DEVICE_REMOVED;
	return rv;
}

/* ---- Wrappers: general purpose --------------------------------------- */

static CK_RV w_C_Initialize(void *args)
{
	struct ck_init_args os_locking;
	struct control c;
	t_Initialize init;
	CK_RV rv;

	enter(F_Initialize, &c);
	if (injected(&c, F_Initialize, &rv))
		return rv;
	pthread_mutex_lock(&g.mu);
	rv = g.initialized ? CKR_CRYPTOKI_ALREADY_INITIALIZED : CKR_OK;
	pthread_mutex_unlock(&g.mu);
	if (rv != CKR_OK)
		return rv;
	if (load_target(&c) != CKR_OK)
		return CKR_GENERAL_ERROR;
	init = TARGET(Initialize);
	if (!init)
		return CKR_GENERAL_ERROR;
	/* The module is used from several threads (delayed signatures, slot
	 * waits), so ask for locking even if the application did not. */
	if (args == NULL) {
		memset(&os_locking, 0, sizeof(os_locking));
		os_locking.flags = CKF_OS_LOCKING_OK;
		args = &os_locking;
	}
	rv = init(args);
	/* Another user of the same target in this process got there first;
	 * for us that is just as good. */
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv = CKR_OK;
	if (rv != CKR_OK)
		return rv;
	pthread_mutex_lock(&g.mu);
	if (g.initialized) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED; /* lost a race */
	} else {
		g.initialized = 1;
		g.reported_present = c.present;
	}
	pthread_mutex_unlock(&g.mu);
	return rv;
}

static CK_RV w_C_Finalize(void *reserved)
{
	struct control c;
	t_Finalize fin;
	CK_RV rv;

	enter(F_Finalize, &c);
	if (injected(&c, F_Finalize, &rv))
		return rv;
	pthread_mutex_lock(&g.mu);
	if (!g.initialized) {
		pthread_mutex_unlock(&g.mu);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	g.initialized = 0;
	/* Blocked C_WaitForSlotEvent calls notice within one poll. */
	while (g.waiters > 0)
		pthread_cond_wait(&g.waiters_gone, &g.mu);
	free(g.sess);
	g.sess = NULL;
	g.nsess = g.capsess = 0;
	pthread_mutex_unlock(&g.mu);
	fin = TARGET(Finalize);
	return fin ? fin(reserved) : missing_target();
}

static CK_RV w_C_GetInfo(struct ck_info *info)
{
	struct control c;
	CK_RV rv;
	void *fn;

	enter(F_GetInfo, &c);
	if (injected(&c, F_GetInfo, &rv))
		return rv;
	fn = target_fn(F_GetInfo);
	if (!fn)
		return missing_target();
	return ((CK_RV(*)(struct ck_info *))fn)(info);
}

static CK_RV w_C_GetFunctionList(struct function_list **out)
{
	struct control c;
	CK_RV rv;

	enter(F_GetFunctionList, &c);
	if (injected(&c, F_GetFunctionList, &rv))
		return rv;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	/* A target that fails to load is reported again by C_Initialize;
	 * handing out the list anyway lets the application get that far. */
	load_target(&c);
	*out = &g_list;
	return CKR_OK;
}

/* ---- Wrappers: slots and tokens -------------------------------------- */

static CK_RV w_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list,
			     CK_ULONG *count)
{
	t_GetSlotList fn;
	struct control c;
	CK_RV rv;

	enter(F_GetSlotList, &c);
	if (injected(&c, F_GetSlotList, &rv))
		return rv;
	if (!c.present && token_present) {
		if (count == NULL)
			return CKR_ARGUMENTS_BAD;
		*count = 0;
		return CKR_OK;
	}
	fn = TARGET(GetSlotList);
	return fn ? fn(token_present, list, count) : missing_target();
}

static CK_RV w_C_GetSlotInfo(CK_SLOT_ID slot, struct ck_slot_info *info)
{
	t_GetSlotInfo fn;
	struct control c;
	CK_RV rv;

	enter(F_GetSlotInfo, &c);
	if (injected(&c, F_GetSlotInfo, &rv))
		return rv;
	fn = TARGET(GetSlotInfo);
	if (!fn)
		return missing_target();
	rv = fn(slot, info);
	if (rv == CKR_OK && info && !c.present)
		info->flags &= ~CKF_TOKEN_PRESENT;
	return rv;
}

static CK_RV w_C_GetTokenInfo(CK_SLOT_ID slot, struct ck_token_info *info)
{
	t_GetTokenInfo fn;
	struct control c;
	long failures;
	CK_RV rv;

	enter(F_GetTokenInfo, &c);
	if (injected(&c, F_GetTokenInfo, &rv))
		return rv;
	if (!c.present)
		return CKR_TOKEN_NOT_PRESENT;
	fn = TARGET(GetTokenInfo);
	if (!fn)
		return missing_target();
	rv = fn(slot, info);
	if (rv != CKR_OK || info == NULL)
		return rv;
	if (c.pinpad)
		info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
	if (c.max_tries > 0) {
		pthread_mutex_lock(&g.mu);
		failures = g.pin_failures;
		pthread_mutex_unlock(&g.mu);
		/* Our counter is the truth: SoftHSM keeps a COUNT_LOW flag of
		 * its own that would otherwise leak through. */
		info->flags &= ~(CKF_USER_PIN_COUNT_LOW |
				 CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
		if (failures >= c.max_tries) {
			info->flags |= CKF_USER_PIN_LOCKED;
		} else {
			if (failures > 0)
				info->flags |= CKF_USER_PIN_COUNT_LOW;
			if (failures == c.max_tries - 1)
				info->flags |= CKF_USER_PIN_FINAL_TRY;
		}
	}
	return rv;
}

/* Slot-level calls that need a token in the slot. */
#define TOKEN_WRAPPER(name, params, args)                                     \
	static CK_RV w_C_##name params                                        \
	{                                                                     \
		struct control c;                                             \
		CK_RV rv;                                                     \
		void *fn;                                                     \
		enter(F_##name, &c);                                          \
		if (injected(&c, F_##name, &rv))                              \
			return rv;                                            \
		if (!c.present)                                               \
			return CKR_TOKEN_NOT_PRESENT;                         \
		fn = target_fn(F_##name);                                     \
		if (!fn)                                                      \
			return missing_target();                              \
		return ((CK_RV(*) params)fn)args;                             \
	}

TOKEN_WRAPPER(GetMechanismList,
	      (CK_SLOT_ID slot, CK_MECHANISM_TYPE *a1, CK_ULONG *a2),
	      (slot, a1, a2))
TOKEN_WRAPPER(GetMechanismInfo,
	      (CK_SLOT_ID slot, CK_MECHANISM_TYPE a1,
	       struct ck_mechanism_info *a2),
	      (slot, a1, a2))
TOKEN_WRAPPER(InitToken,
	      (CK_SLOT_ID slot, CK_BYTE *a1, CK_ULONG a2, CK_BYTE *a3),
	      (slot, a1, a2, a3))

/* ---- Wrappers: sessions ---------------------------------------------- */

/*
 * Forwards a call whose first argument is a session handle, translating the
 * handle and applying presence/staleness.
 */
#define SESSION_WRAPPER(name, params, args)                                   \
	static CK_RV w_C_##name params                                        \
	{                                                                     \
		struct control c;                                             \
		struct session s;                                             \
		CK_SESSION_HANDLE th;                                         \
		CK_RV rv;                                                     \
		void *fn;                                                     \
		enter(F_##name, &c);                                          \
		if (injected(&c, F_##name, &rv))                              \
			return rv;                                            \
		if ((rv = session_get(&c, h, &s)) != CKR_OK)                  \
			return rv;                                            \
		th = s.th;                                                    \
		fn = target_fn(F_##name);                                     \
		if (!fn)                                                      \
			return missing_target();                              \
		return ((CK_RV(*) params)fn)args;                             \
	}

static CK_RV w_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app,
			     ck_notify notify, CK_SESSION_HANDLE *out)
{
	t_OpenSession fn;
	t_CloseSession close_fn;
	struct session *grown, s;
	struct control c;
	unsigned long gen;
	CK_SESSION_HANDLE th;
	CK_RV rv;

	enter(F_OpenSession, &c);
	if (injected(&c, F_OpenSession, &rv))
		return rv;
	if (!c.present)
		return CKR_TOKEN_NOT_PRESENT;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	fn = TARGET(OpenSession);
	if (!fn)
		return missing_target();
	pthread_mutex_lock(&g.mu);
	gen = g.gen;
	pthread_mutex_unlock(&g.mu);
	/* notify is passed on as is: SoftHSM never calls it, and a target
	 * that did would use its own handle in the callback. */
	rv = fn(slot, flags, app, notify, &th);
	if (rv != CKR_OK)
		return rv;
	memset(&s, 0, sizeof(s));
	s.th = th;
	s.slot = slot;
	s.gen = gen; /* a removal racing with the open leaves it stale */
	pthread_mutex_lock(&g.mu);
	if (g.nsess == g.capsess) {
		size_t cap = g.capsess ? g.capsess * 2 : 16;

		grown = realloc(g.sess, cap * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&g.mu);
			close_fn = TARGET(CloseSession);
			if (close_fn)
				close_fn(th);
			return CKR_HOST_MEMORY;
		}
		g.sess = grown;
		g.capsess = cap;
	}
	/* Virtual handles are never reused, so stale ones stay stale. */
	s.vh = g.next_vh++;
	g.sess[g.nsess++] = s;
	*out = s.vh;
	pthread_mutex_unlock(&g.mu);
	return CKR_OK;
}

static CK_RV w_C_CloseSession(CK_SESSION_HANDLE h)
{
	t_CloseSession fn;
	struct session *sp, s;
	struct control c;
	CK_RV rv;

	enter(F_CloseSession, &c);
	if (injected(&c, F_CloseSession, &rv))
		return rv;
	pthread_mutex_lock(&g.mu);
	sp = sess_find_locked(h);
	if (sp == NULL) {
		pthread_mutex_unlock(&g.mu);
		return CKR_SESSION_HANDLE_INVALID;
	}
	s = *sp;
	/* Forget it whatever happens: after a removal the target has
	 * already closed it. */
	sess_remove_locked(sp);
	rv = !c.present ? CKR_DEVICE_REMOVED
	     : s.gen != g.gen ? CKR_SESSION_HANDLE_INVALID
			      : CKR_OK;
	pthread_mutex_unlock(&g.mu);
	if (rv != CKR_OK)
		return rv;
	fn = TARGET(CloseSession);
	return fn ? fn(s.th) : missing_target();
}

static CK_RV w_C_CloseAllSessions(CK_SLOT_ID slot)
{
	t_CloseAllSessions fn;
	struct control c;
	size_t i;
	CK_RV rv;

	enter(F_CloseAllSessions, &c);
	if (injected(&c, F_CloseAllSessions, &rv))
		return rv;
	fn = TARGET(CloseAllSessions);
	if (!fn)
		return missing_target();
	rv = fn(slot);
	pthread_mutex_lock(&g.mu);
	for (i = 0; i < g.nsess;) {
		if (g.sess[i].slot == slot)
			sess_remove_locked(&g.sess[i]);
		else
			i++;
	}
	pthread_mutex_unlock(&g.mu);
	return rv;
}

SESSION_WRAPPER(InitPIN, (CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2),
		(th, a1, a2))
SESSION_WRAPPER(SetPIN,
		(CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2, CK_BYTE *a3,
		 CK_ULONG a4),
		(th, a1, a2, a3, a4))
SESSION_WRAPPER(GetSessionInfo,
		(CK_SESSION_HANDLE h, struct ck_session_info *a1), (th, a1))
SESSION_WRAPPER(GetOperationState,
		(CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG *a2), (th, a1, a2))
SESSION_WRAPPER(SetOperationState,
		(CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2,
		 CK_OBJECT_HANDLE a3, CK_OBJECT_HANDLE a4),
		(th, a1, a2, a3, a4))

/*
 * CKU_CONTEXT_SPECIFIC login emulated for always_auth: checked against pin=
 * and counted like a user PIN, never forwarded (SoftHSM does not know the key
 * is always-authenticate).
 */
static CK_RV context_login(const struct control *c, CK_SESSION_HANDLE vh,
			   const CK_BYTE *pin, CK_ULONG len)
{
	struct session *s;
	CK_RV rv;

	if (!c->has_pin) {
		fprintf(stderr, "faultp11: always_auth needs pin= in %s\n",
			control_path());
		return CKR_GENERAL_ERROR;
	}
	pthread_mutex_lock(&g.mu);
	s = sess_find_locked(vh);
	if (s == NULL || !s->need_ctx)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (c->max_tries > 0 && g.pin_failures >= c->max_tries)
		rv = CKR_PIN_LOCKED;
	else if (pin == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (len == strlen(c->pin) && memcmp(pin, c->pin, len) == 0)
		rv = CKR_OK;
	else
		rv = CKR_PIN_INCORRECT;
	if (rv == CKR_OK)
		s->ctx_ok = 1;
	pthread_mutex_unlock(&g.mu);
	if (rv == CKR_OK || rv == CKR_PIN_INCORRECT)
		rv = pin_result(c, rv);
	return rv;
}

static CK_RV w_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_BYTE *pin,
		       CK_ULONG len)
{
	struct control c;
	struct session s;
	t_Login fn;
	CK_RV rv;

	enter(F_Login, &c);
	if (injected(&c, F_Login, &rv))
		return rv;
	if ((rv = session_get(&c, h, &s)) != CKR_OK)
		return rv;
	/* A pinpad reader collects the PIN itself: pin= plays the user. */
	if (pin == NULL && c.pinpad && c.has_pin &&
	    (user == CKU_USER || user == CKU_CONTEXT_SPECIFIC)) {
		pin = (CK_BYTE *)c.pin;
		len = strlen(c.pin);
	}
	if (user == CKU_CONTEXT_SPECIFIC && c.always_auth)
		return context_login(&c, h, pin, len);
	fn = TARGET(Login);
	if (!fn)
		return missing_target();
	if (user != CKU_USER)
		return fn(s.th, user, pin, len);
	if (pin_locked(&c))
		return CKR_PIN_LOCKED;
	return pin_result(&c, fn(s.th, user, pin, len));
}

SESSION_WRAPPER(Logout, (CK_SESSION_HANDLE h), (th))
SESSION_WRAPPER(CreateObject,
		(CK_SESSION_HANDLE h, struct ck_attribute *a1, CK_ULONG a2,
		 CK_OBJECT_HANDLE *a3),
		(th, a1, a2, a3))
SESSION_WRAPPER(CopyObject,
		(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE a1,
		 struct ck_attribute *a2, CK_ULONG a3, CK_OBJECT_HANDLE *a4),
		(th, a1, a2, a3, a4))
SESSION_WRAPPER(DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE a1),
		(th, a1))
SESSION_WRAPPER(GetObjectSize,
		(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE a1, CK_ULONG *a2),
		(th, a1, a2))

static CK_RV w_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
				   struct ck_attribute *tmpl, CK_ULONG n)
{
	t_GetAttributeValue fn;
	struct control c;
	struct session s;
	int ours = 0, too_small = 0, other_unavailable = 0;
	CK_ULONG i;
	CK_RV rv;

	enter(F_GetAttributeValue, &c);
	if (injected(&c, F_GetAttributeValue, &rv))
		return rv;
	if ((rv = session_get(&c, h, &s)) != CKR_OK)
		return rv;
	fn = TARGET(GetAttributeValue);
	if (!fn)
		return missing_target();
	rv = fn(s.th, obj, tmpl, n);
	if (!c.always_auth || tmpl == NULL)
		return rv;
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	for (i = 0; i < n; i++)
		if (tmpl[i].type == CKA_ALWAYS_AUTHENTICATE)
			ours = 1;
	if (!ours || !is_private_key(s.th, obj))
		return rv;
	for (i = 0; i < n; i++) {
		if (tmpl[i].type != CKA_ALWAYS_AUTHENTICATE) {
			if (tmpl[i].value_len == CK_UNAVAILABLE_INFORMATION)
				other_unavailable = 1;
			continue;
		}
		if (tmpl[i].value == NULL) {
			tmpl[i].value_len = sizeof(CK_BBOOL);
		} else if (tmpl[i].value_len < sizeof(CK_BBOOL)) {
			tmpl[i].value_len = CK_UNAVAILABLE_INFORMATION;
			too_small = 1;
		} else {
			*(CK_BBOOL *)tmpl[i].value = 1;
			tmpl[i].value_len = sizeof(CK_BBOOL);
		}
	}
	/* Recompute the overall result: if no other entry failed, the only
	 * problem the target had was with the entry we just answered. */
	if (rv != CKR_OK && other_unavailable)
		return rv;
	return too_small ? CKR_BUFFER_TOO_SMALL : CKR_OK;
}

SESSION_WRAPPER(SetAttributeValue,
		(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE a1,
		 struct ck_attribute *a2, CK_ULONG a3),
		(th, a1, a2, a3))
SESSION_WRAPPER(FindObjectsInit,
		(CK_SESSION_HANDLE h, struct ck_attribute *a1, CK_ULONG a2),
		(th, a1, a2))
SESSION_WRAPPER(FindObjects,
		(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *a1, CK_ULONG a2,
		 CK_ULONG *a3),
		(th, a1, a2, a3))
SESSION_WRAPPER(FindObjectsFinal, (CK_SESSION_HANDLE h), (th))

/* ---- Wrappers: cryptographic operations ------------------------------ */

#define INIT_WRAPPER(name)                                                    \
	SESSION_WRAPPER(name,                                                 \
			(CK_SESSION_HANDLE h, struct ck_mechanism *a1,        \
			 CK_OBJECT_HANDLE a2),                                \
			(th, a1, a2))
/* f(session, in, in_len, out, out_len*) */
#define ONESHOT_WRAPPER(name)                                                 \
	SESSION_WRAPPER(name,                                                 \
			(CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2,       \
			 CK_BYTE *a3, CK_ULONG *a4),                          \
			(th, a1, a2, a3, a4))
/* f(session, in, in_len) */
#define UPDATE_WRAPPER(name)                                                  \
	SESSION_WRAPPER(name, (CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2), \
			(th, a1, a2))
/* f(session, out, out_len*) */
#define FINAL_WRAPPER(name)                                                   \
	SESSION_WRAPPER(name, (CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG *a2), \
			(th, a1, a2))

INIT_WRAPPER(EncryptInit)
ONESHOT_WRAPPER(Encrypt)
ONESHOT_WRAPPER(EncryptUpdate)
FINAL_WRAPPER(EncryptFinal)
INIT_WRAPPER(DecryptInit)
ONESHOT_WRAPPER(Decrypt)
ONESHOT_WRAPPER(DecryptUpdate)
FINAL_WRAPPER(DecryptFinal)
SESSION_WRAPPER(DigestInit, (CK_SESSION_HANDLE h, struct ck_mechanism *a1),
		(th, a1))
ONESHOT_WRAPPER(Digest)
UPDATE_WRAPPER(DigestUpdate)
SESSION_WRAPPER(DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE a1),
		(th, a1))
FINAL_WRAPPER(DigestFinal)

static CK_RV w_C_SignInit(CK_SESSION_HANDLE h, struct ck_mechanism *mech,
			  CK_OBJECT_HANDLE key)
{
	struct control c;
	struct session s;
	t_SignInit fn;
	CK_RV rv;

	enter(F_SignInit, &c);
	if (injected(&c, F_SignInit, &rv))
		return rv;
	if ((rv = session_get(&c, h, &s)) != CKR_OK)
		return rv;
	fn = TARGET(SignInit);
	if (!fn)
		return missing_target();
	rv = fn(s.th, mech, key);
	if (rv == CKR_OK)
		sign_state_set(h, c.always_auth && is_private_key(s.th, key),
			       0);
	return rv;
}

/*
 * Shared by C_Sign and C_SignFinal: injected failures, the always-auth gate
 * and the signing delay all behave the same for both.
 */
static CK_RV sign_common(enum fn_index idx, CK_SESSION_HANDLE h,
			 CK_BYTE *data, CK_ULONG len, CK_BYTE *sig,
			 CK_ULONG *sig_len)
{
	int final = idx == F_SignFinal;
	t_Sign sign = TARGET(Sign);
	t_SignFinal sign_final = TARGET(SignFinal);
	struct control c;
	struct session s;
	CK_RV rv, fault;
	int faulty;

	enter(idx, &c);
	faulty = injected(&c, idx, &fault);
	rv = session_get(&c, h, &s);
	if (faulty) {
		if (rv == CKR_OK && ends_operation(fault)) {
			discard_sign(s.th, final, data, len);
			sign_state_set(h, 0, 0);
		}
		return fault;
	}
	if (rv != CKR_OK)
		return rv;
	if (!sign || !sign_final)
		return missing_target();
	if (sig == NULL) /* length query: instant, no authorisation needed */
		return final ? sign_final(s.th, NULL, sig_len)
			     : sign(s.th, data, len, NULL, sig_len);
	if (c.always_auth && s.need_ctx && !s.ctx_ok) {
		discard_sign(s.th, final, data, len);
		sign_state_set(h, 0, 0);
		return CKR_USER_NOT_LOGGED_IN;
	}
	if (c.sign_delay_ms > 0) {
		rv = sign_delay(c.sign_delay_ms, h);
		if (rv != CKR_OK)
			return rv; /* the removal closed the target session */
	}
	rv = final ? sign_final(s.th, sig, sig_len)
		   : sign(s.th, data, len, sig, sig_len);
	/* Success and errors end the operation and use up the context
	 * login; CKR_BUFFER_TOO_SMALL keeps both for the retry. */
	if (rv != CKR_BUFFER_TOO_SMALL)
		sign_state_set(h, 0, 0);
	return rv;
}

static CK_RV w_C_Sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG len,
		      CK_BYTE *sig, CK_ULONG *sig_len)
{
	return sign_common(F_Sign, h, data, len, sig, sig_len);
}

UPDATE_WRAPPER(SignUpdate)

static CK_RV w_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE *sig,
			   CK_ULONG *sig_len)
{
	return sign_common(F_SignFinal, h, NULL, 0, sig, sig_len);
}

INIT_WRAPPER(SignRecoverInit)
ONESHOT_WRAPPER(SignRecover)
INIT_WRAPPER(VerifyInit)
SESSION_WRAPPER(Verify,
		(CK_SESSION_HANDLE h, CK_BYTE *a1, CK_ULONG a2, CK_BYTE *a3,
		 CK_ULONG a4),
		(th, a1, a2, a3, a4))
UPDATE_WRAPPER(VerifyUpdate)
UPDATE_WRAPPER(VerifyFinal)
INIT_WRAPPER(VerifyRecoverInit)
ONESHOT_WRAPPER(VerifyRecover)
ONESHOT_WRAPPER(DigestEncryptUpdate)
ONESHOT_WRAPPER(DecryptDigestUpdate)
ONESHOT_WRAPPER(SignEncryptUpdate)
ONESHOT_WRAPPER(DecryptVerifyUpdate)

/* ---- Wrappers: keys, random, legacy ---------------------------------- */

SESSION_WRAPPER(GenerateKey,
		(CK_SESSION_HANDLE h, struct ck_mechanism *a1,
		 struct ck_attribute *a2, CK_ULONG a3, CK_OBJECT_HANDLE *a4),
		(th, a1, a2, a3, a4))
SESSION_WRAPPER(GenerateKeyPair,
		(CK_SESSION_HANDLE h, struct ck_mechanism *a1,
		 struct ck_attribute *a2, CK_ULONG a3,
		 struct ck_attribute *a4, CK_ULONG a5, CK_OBJECT_HANDLE *a6,
		 CK_OBJECT_HANDLE *a7),
		(th, a1, a2, a3, a4, a5, a6, a7))
SESSION_WRAPPER(WrapKey,
		(CK_SESSION_HANDLE h, struct ck_mechanism *a1,
		 CK_OBJECT_HANDLE a2, CK_OBJECT_HANDLE a3, CK_BYTE *a4,
		 CK_ULONG *a5),
		(th, a1, a2, a3, a4, a5))
SESSION_WRAPPER(UnwrapKey,
		(CK_SESSION_HANDLE h, struct ck_mechanism *a1,
		 CK_OBJECT_HANDLE a2, CK_BYTE *a3, CK_ULONG a4,
		 struct ck_attribute *a5, CK_ULONG a6, CK_OBJECT_HANDLE *a7),
		(th, a1, a2, a3, a4, a5, a6, a7))
SESSION_WRAPPER(DeriveKey,
		(CK_SESSION_HANDLE h, struct ck_mechanism *a1,
		 CK_OBJECT_HANDLE a2, struct ck_attribute *a3, CK_ULONG a4,
		 CK_OBJECT_HANDLE *a5),
		(th, a1, a2, a3, a4, a5))
UPDATE_WRAPPER(SeedRandom)
UPDATE_WRAPPER(GenerateRandom)
SESSION_WRAPPER(GetFunctionStatus, (CK_SESSION_HANDLE h), (th))
SESSION_WRAPPER(CancelFunction, (CK_SESSION_HANDLE h), (th))

/* ---- Slot events ------------------------------------------------------ */

static CK_RV first_slot(CK_SLOT_ID *out)
{
	t_GetSlotList fn = TARGET(GetSlotList);
	CK_SLOT_ID *slots;
	CK_ULONG n = 0;
	CK_RV rv;

	if (!fn)
		return missing_target();
	rv = fn(0, NULL, &n);
	if (rv != CKR_OK)
		return rv;
	if (n == 0)
		return CKR_GENERAL_ERROR;
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL)
		return CKR_HOST_MEMORY;
	rv = fn(0, slots, &n);
	if (rv == CKR_OK)
		*out = n > 0 ? slots[0] : 0;
	free(slots);
	return rv;
}

/*
 * Presence changes are the only events. Each one is reported once, to
 * whichever waiter sees it first, by comparing against the last presence
 * reported. The target is never asked to wait (SoftHSM cannot).
 */
static CK_RV w_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID *slot,
				  void *reserved)
{
	struct control c;
	CK_RV rv;

	(void)reserved;
	enter(F_WaitForSlotEvent, &c);
	if (injected(&c, F_WaitForSlotEvent, &rv))
		return rv;
	if (!c.wait_events)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (slot == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&g.mu);
	if (!g.initialized) {
		pthread_mutex_unlock(&g.mu);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	g.waiters++;
	for (;;) {
		if (!g.initialized) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		if (c.present != g.reported_present) {
			g.reported_present = c.present;
			rv = CKR_OK;
			break;
		}
		if (flags & CKF_DONT_BLOCK) {
			rv = CKR_NO_EVENT;
			break;
		}
		pthread_mutex_unlock(&g.mu);
		sleep_ms(POLL_MS);
		load_control(&c);
		pthread_mutex_lock(&g.mu);
	}
	pthread_mutex_unlock(&g.mu);
	/* Still counted as a waiter, so C_Finalize cannot pull the target
	 * away underneath this call. */
	if (rv == CKR_OK)
		rv = first_slot(slot);
	pthread_mutex_lock(&g.mu);
	if (--g.waiters == 0)
		pthread_cond_broadcast(&g.waiters_gone);
	pthread_mutex_unlock(&g.mu);
	return rv;
}

/* ---- The function list ------------------------------------------------ */

/*
 * Every entry is a wrapper, because log= must see every call; the list is
 * otherwise the target's (its version is copied in by load_target). The
 * conversion from function to object pointer is what dlsym relies on too.
 */
#define X_ENTRY(n) (void *)w_C_##n,
static struct function_list g_list = {2, 40, {FUNCTIONS(X_ENTRY)}};
#undef X_ENTRY

/** C_GetFunctionList is the module's only exported symbol. */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(struct function_list **out)
{
	return w_C_GetFunctionList(out);
}
