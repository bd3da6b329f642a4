package bridge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxChunkHeaderBytes bounds the JSON header of a binary frame; a header
// is about 60 bytes, the slack is for long request ids.
const maxChunkHeaderBytes = 1024

// chunkHeader is the JSON header of a binary frame: which request, which
// of its documents, where in that document the chunk starts.
type chunkHeader struct {
	ID     string `json:"id"`
	Doc    int    `json:"doc"`
	Offset int64  `json:"offset"`
}

// encodeChunkHeader returns the 4-byte big-endian length followed by the
// JSON header; the chunk bytes follow it in the same binary frame.
func encodeChunkHeader(h chunkHeader) ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("bridge: encoding chunk header: %w", err)
	}
	out := make([]byte, 4, 4+len(js))
	binary.BigEndian.PutUint32(out, uint32(len(js)))
	return append(out, js...), nil
}

// decodeChunk splits a binary frame into its header and chunk bytes. The
// chunk aliases frame.
func decodeChunk(frame []byte) (chunkHeader, []byte, error) {
	var h chunkHeader
	if len(frame) < 4 {
		return h, nil, errorf(CodeBadMessage, "binary frame shorter than its length prefix", nil)
	}
	n := binary.BigEndian.Uint32(frame)
	if n == 0 || n > maxChunkHeaderBytes || int64(n) > int64(len(frame)-4) {
		return h, nil, errorf(CodeBadMessage, "binary frame header length out of range", nil)
	}
	raw := frame[4 : 4+n]
	// Exactly these three members, nothing else: the header steers where
	// bytes land, so it is parsed strictly.
	var probe struct {
		ID     *string `json:"id"`
		Doc    *int    `json:"doc"`
		Offset *int64  `json:"offset"`
	}
	if err := decodeStrict(raw, &probe); err != nil {
		return h, nil, errorf(CodeBadMessage, "binary frame header is not the JSON object {id, doc, offset}", nil)
	}
	if probe.ID == nil || probe.Doc == nil || probe.Offset == nil {
		return h, nil, errorf(CodeBadMessage, "binary frame header needs id, doc and offset", nil)
	}
	h = chunkHeader{ID: *probe.ID, Doc: *probe.Doc, Offset: *probe.Offset}
	if !validID(h.ID) {
		return h, nil, errorf(CodeBadMessage, "binary frame header has an invalid id", nil)
	}
	return h, frame[4+n:], nil
}

// decodeStrict decodes exactly one JSON value with no unknown members and
// nothing after it.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
