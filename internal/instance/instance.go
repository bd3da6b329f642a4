// Package instance keeps `kyso run` to one running copy per user. The first
// launch takes an OS lock on a file in a per-user folder and listens on a
// unix socket next to it; a later launch finds the lock taken, asks the
// running copy over the socket to show itself, and exits.
//
// The lock, not a pid file, decides who is running: the OS drops it when the
// holder exits for any reason, kill -9 included, so a crashed instance never
// blocks the next start and no process ever has to guess whether a pid is
// stale. The socket only carries messages; only the lock holder may create
// or remove it.
package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// ErrRunning is returned by Acquire when another process holds the lock.
var ErrRunning = errors.New("instance: another instance is running")

// ErrNotRunning is returned by Signal when no process holds the lock.
var ErrNotRunning = errors.New("instance: no instance is running")

// Info is what the running instance tells a second launch.
type Info struct {
	PID     int    `json:"pid"`
	Port    int    `json:"port"`
	Version string `json:"version"`
}

// Request is what a later launch asks of the running instance.
type Request struct {
	// Command is "show" for now: bring the running instance to the front.
	Command string `json:"command"`
	// Args are the later launch's arguments, for the running instance to
	// act on (for example a file to open).
	Args []string `json:"args,omitempty"`
}

// Commands a later process sends the running instance.
const (
	// CommandShow asks the running instance to show itself.
	CommandShow = "show"
	// CommandStatus only asks who is running (kyso doctor): the handler
	// answers without showing anything.
	CommandStatus = "status"
)

const (
	lockName   = "instance.lock"
	socketName = "instance.sock"

	// maxRequest caps what the listener reads from a connection, so a
	// client cannot make the instance buffer without bound.
	maxRequest = 4 << 10
	// maxReply caps what Signal reads back, for the same reason.
	maxReply = 64 << 10
	// connTimeout bounds how long a client may take to send its request
	// (and to read the reply), so a stuck client cannot hold a goroutine.
	connTimeout = 5 * time.Second
	// retryEvery is how often Signal retries while the lock holder has not
	// started listening yet.
	retryEvery = 50 * time.Millisecond
	// maxAcceptBackoff bounds the pause after a failed Accept (out of file
	// descriptors, say) so the loop neither spins nor stalls for long.
	maxAcceptBackoff = time.Second
)

// DefaultDir returns the per-user folder for the lock and socket. On Windows
// it is %LOCALAPPDATA%\kyso. Elsewhere it is $XDG_RUNTIME_DIR/kyso when that
// variable names an absolute path (a private folder the session manager
// clears at logout, the right home for sockets), else kyso under
// os.UserCacheDir.
func DefaultDir() (string, error) {
	if runtime.GOOS != "windows" {
		// The XDG spec says relative values are invalid and must be ignored.
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, "kyso"), nil
		}
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("instance: default folder: %w", err)
	}
	return filepath.Join(d, "kyso"), nil
}

// Instance is the running instance: it holds the lock and answers requests
// from later launches until Close.
type Instance struct {
	dir     string
	lock    *os.File
	ln      net.Listener
	handler func(Request) Info
	timeout time.Duration

	done chan struct{} // closed by Close; wakes the accept loop's backoff
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// Acquire takes the per-user lock in dir (created 0700 if missing) and starts
// listening for requests from later launches. handler is called for each
// "show" request (on its own goroutine) and returns the Info to reply with;
// it should return promptly and must not call Close, which waits for it.
//
// If another process holds the lock, Acquire returns an error wrapping
// ErrRunning; the caller should then Signal it. If that Signal returns
// ErrNotRunning, the holder exited in between and Acquire may be tried again.
func Acquire(dir string, handler func(Request) Info) (*Instance, error) {
	return acquire(dir, handler, connTimeout)
}

// acquire is Acquire with the per-connection timeout as a parameter, so tests
// can watch a silent client being dropped without waiting seconds.
func acquire(dir string, handler func(Request) Info, timeout time.Duration) (*Instance, error) {
	if handler == nil {
		return nil, errors.New("instance: acquire: nil handler")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("instance: create %s: %w", dir, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}

	lockPath := filepath.Join(dir, lockName)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("instance: lock %s: %w", lockPath, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("instance: lock %s: %w", lockPath, err)
	}
	// From here on we are the only process that may touch the socket path.
	// The lock file itself is never removed: unlinking it would let a
	// process that opened the old file before the unlink lock that orphan
	// while another locks a new file of the same name, and both would run.

	sockPath := filepath.Join(dir, socketName)
	ln, err := listen(sockPath)
	if err != nil {
		unlockFile(f)
		f.Close()
		return nil, err
	}

	i := &Instance{
		dir:     dir,
		lock:    f,
		ln:      ln,
		handler: handler,
		timeout: timeout,
		done:    make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
	}
	i.wg.Add(1)
	go i.serve()
	return i, nil
}

// listen replaces whatever a dead instance left at path with a fresh socket
// that only the current user can connect to. Only the lock holder calls it,
// so nothing it removes can belong to a live instance.
func listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("instance: remove stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		// bind's EINVAL for an over-long path says nothing useful; the
		// limit is 104 bytes on macOS and the BSDs, 108 on Linux/Windows.
		if len(path) >= 104 {
			return nil, fmt.Errorf("instance: listen %s (path is %d bytes; unix socket paths must be shorter than about 104): %w", path, len(path), err)
		}
		return nil, fmt.Errorf("instance: listen %s: %w", path, err)
	}
	// The folder is already private; this narrows the socket too, in case
	// the folder's mode is ever loosened.
	if err := restrictSocket(path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("instance: restrict socket %s: %w", path, err)
	}
	return ln, nil
}

// serve accepts connections until the listener is closed.
func (i *Instance) serve() {
	defer i.wg.Done()
	var backoff time.Duration
	for {
		c, err := i.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Probably out of file descriptors: wait for some to be freed
			// rather than spinning, but keep serving.
			backoff = min(max(2*backoff, 10*time.Millisecond), maxAcceptBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-i.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0

		i.mu.Lock()
		if i.closed {
			i.mu.Unlock()
			c.Close()
			return
		}
		i.conns[c] = struct{}{}
		// Add while serve itself is still counted, so it never races Wait.
		i.wg.Add(1)
		i.mu.Unlock()

		go func() {
			defer i.wg.Done()
			defer func() {
				i.mu.Lock()
				delete(i.conns, c)
				i.mu.Unlock()
				c.Close()
			}()
			i.handle(c)
		}()
	}
}

// reply is what goes back on the wire: an Info, or an error for a well-formed
// request the instance does not understand (from a newer kyso, say).
type reply struct {
	Info
	Error string `json:"error,omitempty"`
}

// handle answers one request on c. Anything malformed just ends the
// connection: the peer is either a confused program or a hostile one, and
// neither deserves more than that.
func (i *Instance) handle(c net.Conn) {
	if err := c.SetDeadline(time.Now().Add(i.timeout)); err != nil {
		return
	}
	var req Request
	// One JSON value per connection; LimitReader makes an over-long request
	// fail to decode instead of being buffered.
	if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
		return
	}
	var r reply
	switch req.Command {
	case CommandShow, CommandStatus:
		r.Info = i.handler(req)
	default:
		r.Error = fmt.Sprintf("unknown command %q", req.Command)
	}
	// The handler may have taken a while; give the write its own deadline.
	if err := c.SetWriteDeadline(time.Now().Add(i.timeout)); err != nil {
		return
	}
	// If the peer has gone there is nobody to tell.
	_ = json.NewEncoder(c).Encode(r)
}

// Close stops listening, removes the socket, and releases the lock. It waits
// for handler calls in progress, so after it returns handler is not called
// again. Calling it more than once is fine; later calls return nil.
func (i *Instance) Close() error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	close(i.done)
	// Cut off clients mid-request rather than wait out their deadlines.
	for c := range i.conns {
		c.Close()
	}
	i.mu.Unlock()

	// Closing a unix listener created by net.Listen unlinks its socket. We
	// still hold the lock here, so the path cannot yet belong to a
	// successor.
	var errs []error
	if err := i.ln.Close(); err != nil {
		errs = append(errs, fmt.Errorf("instance: close socket in %s: %w", i.dir, err))
	}
	i.wg.Wait()
	if err := unlockFile(i.lock); err != nil {
		errs = append(errs, fmt.Errorf("instance: unlock %s: %w", i.lock.Name(), err))
	}
	if err := i.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("instance: close %s: %w", i.lock.Name(), err))
	}
	return errors.Join(errs...)
}

// Signal sends req to the running instance and returns its Info. It retries
// while the lock holder has not started listening yet, until ctx ends, so ctx
// should carry a deadline. If no instance holds the lock, it returns an error
// wrapping ErrNotRunning.
func Signal(ctx context.Context, dir string, req Request) (Info, error) {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("instance: signal %s: %w", dir, ErrNotRunning)
	}
	// Whoever can write to dir could put their own socket there and answer
	// for us; do not talk to it.
	if err := checkDir(dir); err != nil {
		return Info{}, err
	}
	sockPath := filepath.Join(dir, socketName)
	lockPath := filepath.Join(dir, lockName)
	for {
		info, err := send(ctx, sockPath, req)
		if err == nil {
			return info, nil
		}
		var de *dialError
		if !errors.As(err, &de) {
			return Info{}, err
		}
		// Nobody listening. Ask the lock whether that is because nobody is
		// running (a dead instance's socket may linger) or because the
		// holder is still starting up. The lock is only probed once the
		// dial has failed, so in the common case Signal never touches it
		// and cannot make a concurrent Acquire fail.
		held, lerr := lockHeld(lockPath)
		if lerr != nil {
			return Info{}, lerr
		}
		if !held {
			return Info{}, fmt.Errorf("instance: signal %s: %w", dir, ErrNotRunning)
		}
		t := time.NewTimer(retryEvery)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Info{}, fmt.Errorf("instance: signal %s: instance is running but not answering: %w (last error: %v)", dir, context.Cause(ctx), de.err)
		}
	}
}

// dialError marks a failure to connect, as opposed to a failure of the
// exchange itself, so Signal knows a retry might help.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// send does one request/reply exchange over the socket at path.
func send(ctx context.Context, path string, req Request) (Info, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Info{}, &dialError{fmt.Errorf("instance: dial %s: %w", path, err)}
	}
	defer c.Close()
	// A live but wedged instance must not hang the second launch, even
	// with a ctx that never ends. The instance allows connTimeout to read
	// the request and again to write the reply, so allow both.
	deadline := time.Now().Add(2 * connTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetDeadline(deadline); err != nil {
		return Info{}, fmt.Errorf("instance: signal %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b, err := json.Marshal(req)
	if err != nil {
		return Info{}, fmt.Errorf("instance: encode request: %w", err)
	}
	if len(b) >= maxRequest {
		return Info{}, fmt.Errorf("instance: request is %d bytes, limit is %d", len(b), maxRequest)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return Info{}, fmt.Errorf("instance: send request to %s: %w", path, withCause(ctx, err))
	}
	var r reply
	if err := json.NewDecoder(io.LimitReader(c, maxReply)).Decode(&r); err != nil {
		return Info{}, fmt.Errorf("instance: read reply from %s: %w", path, withCause(ctx, err))
	}
	if r.Error != "" {
		return Info{}, fmt.Errorf("instance: running instance refused %q: %s", req.Command, r.Error)
	}
	return r.Info, nil
}

// withCause reports ctx's end rather than the i/o timeout it provoked.
func withCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// lockHeld reports whether some process holds the lock at path, by briefly
// taking it. A missing lock file means nobody ever ran here.
func lockHeld(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("instance: lock %s: %w", path, err)
	}
	defer f.Close()
	switch err := lockFile(f); {
	case errors.Is(err, ErrRunning):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("instance: lock %s: %w", path, err)
	}
	if err := unlockFile(f); err != nil {
		return false, fmt.Errorf("instance: unlock %s: %w", path, err)
	}
	return false, nil
}
