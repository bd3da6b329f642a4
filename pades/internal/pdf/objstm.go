package pdf

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// objStm is a decoded object stream.
type objStm struct {
	num  uint32
	data []byte
	nums []uint32 // object numbers, in header order
	offs []int64  // where each object starts in data
	ends []int64  // where the next object (by offset) starts, or len(data)
}

// objectInStream parses object num, which e places in an object stream.
func (r *Reader) objectInStream(num uint32, e xrefEntry, depth int) (Object, error) {
	stmNum := uint32(e.off)
	if stmNum == num {
		return nil, errorf(-1, "broken cross-reference: object %d 0 is said to be inside itself", num)
	}
	stm, err := r.loadObjStm(stmNum, depth+1)
	if err != nil {
		return nil, err
	}
	i := int(e.idx)
	if int64(e.idx) >= int64(len(stm.nums)) || stm.nums[i] != num {
		// Tolerate a wrong index when the number is listed elsewhere.
		i = slices.Index(stm.nums, num)
		if i < 0 {
			return nil, errorf(-1, "broken cross-reference: object %d 0 not found in object stream %d", num, stmNum)
		}
	}
	l := newBytesLexer(stm.data[:stm.ends[i]], stmNum)
	l.pos = stm.offs[i]
	return l.object(0)
}

// loadObjStm returns the decoded object stream num, from the cache when
// possible.
func (r *Reader) loadObjStm(num uint32, depth int) (*objStm, error) {
	r.mu.Lock()
	for i, s := range r.stms {
		if s.num == num {
			// Move to the most recently used end.
			r.stms = append(append(r.stms[:i:i], r.stms[i+1:]...), s)
			r.mu.Unlock()
			return s, nil
		}
	}
	r.mu.Unlock()

	o, err := r.object(Ref{Num: num}, depth)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*Stream)
	if !ok {
		return nil, errorf(-1, "object stream %d 0 is not a stream", num)
	}
	if t, ok := s.Dict["Type"]; ok && t != Name("ObjStm") {
		return nil, errorf(s.Offset, "object stream %d 0 is not /Type /ObjStm", num)
	}
	n, ok1 := s.Dict.GetInt("N")
	first, ok2 := s.Dict.GetInt("First")
	if !ok1 || !ok2 || n < 0 || first < 0 {
		return nil, errorf(s.Offset, "object stream %d 0 has no valid /N and /First", num)
	}
	if n > maxContainerLen {
		return nil, &FormatError{Offset: s.Offset, Reason: fmt.Sprintf("object stream %d 0 holds too many objects", num), Err: ErrTooLarge}
	}
	data, err := r.streamData(s, maxObjStmData, depth)
	if err != nil {
		return nil, err
	}
	if first > int64(len(data)) {
		return nil, errorf(s.Offset, "object stream %d 0: /First %d is beyond its %d bytes of data", num, first, len(data))
	}
	stm := &objStm{num: num, data: data, nums: make([]uint32, 0, n), offs: make([]int64, 0, n)}
	l := newBytesLexer(data[:first], num)
	for range n {
		objNum, at, err := l.uint("object number in object stream header")
		if err != nil {
			return nil, err
		}
		off, _, err := l.uint("offset in object stream header")
		if err != nil {
			return nil, err
		}
		if objNum >= 1<<32-1 || off > uint64(int64(len(data))-first) {
			return nil, l.errAt(at, "object stream header entry %d %d out of range", objNum, off)
		}
		stm.nums = append(stm.nums, uint32(objNum))
		stm.offs = append(stm.offs, first+int64(off))
	}
	// Bound each object by the next one's start, so that parsing one
	// cannot run into the next (a trailing integer could otherwise join
	// the following two tokens into a reference).
	sorted := slices.Clone(stm.offs)
	slices.Sort(sorted)
	stm.ends = make([]int64, len(stm.offs))
	for i, off := range stm.offs {
		j, _ := slices.BinarySearch(sorted, off+1)
		stm.ends[i] = int64(len(data))
		if j < len(sorted) {
			stm.ends[i] = sorted[j]
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.stms) > 0 && (len(r.stms) >= objStmCacheCount || r.stmBytes+len(data) > objStmCacheBytes) {
		r.stmBytes -= len(r.stms[0].data)
		r.stms = r.stms[1:]
	}
	r.stms = append(r.stms, stm)
	r.stmBytes += len(data)
	return stm, nil
}

// StreamData returns the decoded data of s, refusing (with ErrTooLarge)
// to produce more than limit bytes. FlateDecode (with PNG and TIFF
// predictors) is the only filter implemented; any other gives
// ErrUnsupported.
func (r *Reader) StreamData(s *Stream, limit int64) ([]byte, error) {
	return r.streamData(s, limit, 0)
}

func (r *Reader) streamData(s *Stream, limit int64, depth int) ([]byte, error) {
	if s == nil {
		return nil, errorf(-1, "no stream")
	}
	if limit < 0 {
		limit = 0
	}
	rd, err := r.streamReader(s, depth)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("decoded stream data exceeds the limit of %d bytes", limit)
	if _, raw := rd.(*io.SectionReader); raw && s.Length > limit {
		return nil, &FormatError{Offset: s.Offset, Reason: what, Err: ErrTooLarge}
	}
	data, err := io.ReadAll(&limitReader{r: rd, n: limit, what: what})
	if err != nil {
		return nil, decodeError(err, s, "stream")
	}
	return data, nil
}

// decodeError gives a failure while decoding s the offset of s.
func decodeError(err error, s *Stream, what string) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		if fe.Offset < 0 || fe.Err == nil {
			return &FormatError{Offset: s.Offset, Reason: fe.Reason, Err: fe.Err}
		}
		return err
	}
	return &FormatError{Offset: s.Offset, Reason: "cannot decode " + what + " data", Err: err}
}

// streamReader returns a reader of the decoded data of s.
func (r *Reader) streamReader(s *Stream, depth int) (io.Reader, error) {
	if s.Offset < 0 || s.Length < 0 || s.Offset > r.size || s.Length > r.size-s.Offset {
		return nil, errorf(s.Offset, "stream data (%d bytes) lies outside the file", s.Length)
	}
	var rd io.Reader = io.NewSectionReader(r.src, s.Offset, s.Length)
	filters, params, err := r.filters(s, depth)
	if err != nil {
		return nil, err
	}
	for i, f := range filters {
		switch f {
		case "FlateDecode", "Fl":
			fr, err := newFlateReader(rd)
			if err != nil {
				return nil, decodeError(err, s, "FlateDecode")
			}
			p, err := parsePredictorParams(params[i])
			if err != nil {
				return nil, &FormatError{Offset: s.Offset, Reason: "invalid /DecodeParms: " + err.Error(), Err: errors.Unwrap(err)}
			}
			rd = fr
			if p.predictor != 1 {
				rd = newPredictorReader(fr, p)
			}
		default:
			return nil, &FormatError{Offset: s.Offset, Reason: fmt.Sprintf("stream filter /%s", f), Err: ErrUnsupported}
		}
	}
	return rd, nil
}

// filters returns the /Filter names of s and the matching /DecodeParms
// (an empty Dict where none is given).
func (r *Reader) filters(s *Stream, depth int) ([]Name, []Dict, error) {
	resolve := func(o Object) (Object, error) {
		if ref, ok := o.(Ref); ok {
			return r.object(ref, depth+1)
		}
		return o, nil
	}
	fo, err := resolve(s.Dict.Get("Filter"))
	if err != nil {
		return nil, nil, err
	}
	var names []Name
	switch v := fo.(type) {
	case Null:
	case Name:
		names = []Name{v}
	case Array:
		for _, e := range v {
			n, ok := e.(Name)
			if !ok {
				return nil, nil, errorf(s.Offset, "stream /Filter array holds a non-name")
			}
			names = append(names, n)
		}
	default:
		return nil, nil, errorf(s.Offset, "stream /Filter is neither a name nor an array")
	}
	po, err := resolve(s.Dict.Get("DecodeParms"))
	if err != nil {
		return nil, nil, err
	}
	params := make([]Dict, len(names))
	for i := range params {
		params[i] = Dict{}
	}
	switch v := po.(type) {
	case Null:
	case Dict:
		if len(params) > 0 {
			params[0] = v
		}
	case Array:
		for i, e := range v {
			if i >= len(params) {
				break
			}
			e, err := resolve(e)
			if err != nil {
				return nil, nil, err
			}
			if d, ok := e.(Dict); ok {
				params[i] = d
			}
		}
	default:
		return nil, nil, errorf(s.Offset, "stream /DecodeParms is neither a dictionary nor an array")
	}
	return names, params, nil
}
