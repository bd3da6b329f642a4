package bridge

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kyso-vn/kyso/agent"
)

// WebSocket close codes the bridge sends.
const (
	closeNormal    = websocket.CloseNormalClosure // idle timeout
	closeGoingAway = websocket.CloseGoingAway     // shutdown
	closeTooBig    = websocket.CloseMessageTooBig // a frame over its cap
)

// drainLimit and drainTime bound how much of an oversized message is read
// and discarded after the 1009 close frame, so the peer sees the close
// code instead of a TCP reset from unread data.
const (
	drainLimit = 256 << 20
	drainTime  = 2 * time.Second
)

// wsConn is a gorilla connection as a frameWriter.
type wsConn struct {
	conn         *websocket.Conn
	writeTimeout time.Duration
	mu           sync.Mutex // one writer at a time
}

// WriteFrame writes one message; a failed write closes the connection,
// whose read loop then ends the session.
func (c *wsConn) WriteFrame(binary bool, parts ...[]byte) error {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	w, err := c.conn.NextWriter(typ)
	if err == nil {
		for _, p := range parts {
			if _, err = w.Write(p); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		c.conn.Close()
	}
	return err
}

// closeWith sends a close frame (safe beside a writer) and closes.
func (c *wsConn) closeWith(code int, reason string) {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.conn.Close()
}

// closeTooBigAndDrain ends a connection that sent an oversized frame.
func (c *wsConn) closeTooBigAndDrain(sent bool) {
	if !sent {
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTooBig, "frame too big"), time.Now().Add(time.Second))
	}
	nc := c.conn.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, drainLimit))
	c.conn.Close()
}

// serveConn runs one admitted connection until it ends.
func (s *Server) serveConn(conn *websocket.Conn, caller agent.Caller, log *slog.Logger) {
	c := &wsConn{conn: conn, writeTimeout: s.writeTimeout}
	if !s.track(c) {
		c.closeWith(closeGoingAway, "kyso is shutting down")
		return
	}
	defer s.untrack(c)
	lim := s.lim
	lim.uploadTimeout = s.uploadTimeout
	sess := newSession(s.ctx, sessionConfig{
		svc: s.cfg.Service, caller: caller, version: s.cfg.Version, lim: lim, w: c, log: s.log, hub: s.hub,
	})
	log.Info("connected")
	start := time.Now()

	frameCap := int64(4 + maxChunkHeaderBytes + lim.maxChunkBytes)
	conn.SetReadLimit(max(lim.maxMessageBytes, frameCap))
	pongWait := 2 * s.pingInterval
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })

	done := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Add(1)
	go func() {
		defer pinger.Done()
		s.ping(c, sess, done)
	}()

	reason := s.readLoop(c, sess, lim, frameCap)
	close(done)
	conn.Close()
	pinger.Wait()
	sess.close()
	log.Info("disconnected", "reason", reason, "duration", time.Since(start))
}

// readLoop feeds frames to the session until the connection ends, and
// says why it ended.
func (s *Server) readLoop(c *wsConn, sess *session, lim limits, frameCap int64) string {
	for {
		typ, r, err := c.conn.NextReader()
		if err != nil {
			return s.readEnded(c, err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * s.pingInterval))
		limit := lim.maxMessageBytes
		if typ == websocket.BinaryMessage {
			limit = frameCap
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return s.readEnded(c, err)
		}
		if int64(len(data)) > limit {
			c.closeTooBigAndDrain(false)
			return "frame too big"
		}
		if typ == websocket.BinaryMessage {
			err = sess.handleBinary(data)
		} else {
			err = sess.handleText(data)
		}
		var fe fatalError
		if errors.As(err, &fe) {
			c.closeTooBigAndDrain(false)
			return "frame too big"
		}
	}
}

func (s *Server) readEnded(c *wsConn, err error) string {
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has already sent 1009.
		c.closeTooBigAndDrain(true)
		return "frame too big"
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return "closed by peer"
	}
	return "connection ended"
}

// ping keeps the connection checked and closes it when idle.
func (s *Server) ping(c *wsConn, sess *session, done <-chan struct{}) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			if sess.idle(now, s.cfg.IdleTimeout) {
				c.closeWith(closeNormal, "idle")
				return
			}
			if err := c.conn.WriteControl(websocket.PingMessage, nil, now.Add(s.writeTimeout)); err != nil {
				c.conn.Close()
				return
			}
		}
	}
}
