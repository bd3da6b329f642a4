// Package pdf is a small, strict reader of PDF file structure and a
// serializer for the few objects kyso rewrites in an incremental update.
//
// The reader locates objects (trailer, cross-reference chain, catalog, page
// tree, object streams) without loading the file: it reads through an
// io.ReaderAt in small windows, never reads stream data unless asked, and
// bounds every structure it builds, so hostile input yields a *FormatError
// instead of a panic or an exhausted memory. It does not decrypt, repair or
// render anything.
package pdf

// Object is a PDF object: one of Null, Bool, Int, Real, String, Name,
// Array, Dict, Ref or *Stream. A Go nil is never produced by this package;
// PDF null is Null{}.
type Object interface{}

// Null is the PDF null object.
type Null struct{}

// Bool is a PDF boolean.
type Bool bool

// Int is a PDF integer.
type Int int64

// Real is a PDF real number.
type Real float64

// String is a PDF string. Bytes holds the decoded bytes (escapes and hex
// digits resolved); Hex records whether it was written as <hex> so that a
// serialized copy looks like the original.
type String struct {
	Bytes []byte
	Hex   bool
}

// Name is a PDF name, decoded (#xx resolved), without the leading slash.
type Name string

// Array is a PDF array.
type Array []Object

// Dict is a PDF dictionary. A key whose value is null is treated as absent,
// as the standard says; the parser does not store such keys.
type Dict map[Name]Object

// Ref is an indirect reference "Num Gen R".
type Ref struct {
	Num uint32
	Gen uint16
}

// Stream is a stream object as found in the file. Its data is not read
// when the object is parsed; use Reader.StreamData.
type Stream struct {
	Dict Dict
	// Offset is the absolute file offset of the first data byte.
	Offset int64
	// Length is the number of raw (encoded) data bytes. When the /Length
	// entry was wrong, this is the corrected length found by locating
	// "endstream".
	Length int64
}

// Get returns the value stored under key, or Null{} when the key is absent.
// The value is not resolved: it may be a Ref.
func (d Dict) Get(key string) Object {
	if v, ok := d[Name(key)]; ok && v != nil {
		return v
	}
	return Null{}
}

// GetName returns the name stored directly under key.
func (d Dict) GetName(key string) (Name, bool) {
	n, ok := d[Name(key)].(Name)
	return n, ok
}

// GetInt returns the integer stored directly under key.
func (d Dict) GetInt(key string) (int64, bool) {
	n, ok := d[Name(key)].(Int)
	return int64(n), ok
}

// GetRef returns the reference stored directly under key.
func (d Dict) GetRef(key string) (Ref, bool) {
	r, ok := d[Name(key)].(Ref)
	return r, ok
}

// GetDict returns the dictionary stored directly (not by reference) under
// key.
func (d Dict) GetDict(key string) (Dict, bool) {
	v, ok := d[Name(key)].(Dict)
	return v, ok
}

// GetArray returns the array stored directly (not by reference) under key.
func (d Dict) GetArray(key string) (Array, bool) {
	v, ok := d[Name(key)].(Array)
	return v, ok
}

// GetString returns the string stored directly under key.
func (d Dict) GetString(key string) (String, bool) {
	v, ok := d[Name(key)].(String)
	return v, ok
}

// Number returns the value of an Int or a Real as a float64, which is how
// PDF treats numbers in rectangles and matrices.
func Number(o Object) (float64, bool) {
	switch v := o.(type) {
	case Int:
		return float64(v), true
	case Real:
		return float64(v), true
	}
	return 0, false
}
