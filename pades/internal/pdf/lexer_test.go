package pdf

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// parseOne parses a single object from s and requires that nothing but
// white space follows it.
func parseOne(s string) (Object, error) {
	l := newBytesLexer([]byte(s), 0)
	o, err := l.object(0)
	if err != nil {
		return nil, err
	}
	l.skipSpace()
	if l.pos != l.size {
		return nil, l.errAt(l.pos, "trailing data")
	}
	return o, nil
}

func str(s string) String    { return String{Bytes: []byte(s)} }
func hexStr(s string) String { return String{Bytes: []byte(s), Hex: true} }

func TestParseObject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Object
	}{
		{"null", "null", Null{}},
		{"true", "true", Bool(true)},
		{"false", " false ", Bool(false)},
		{"int", "123", Int(123)},
		{"negative int", "-17", Int(-17)},
		{"plus int", "+3", Int(3)},
		{"zero", "0", Int(0)},
		{"real", "3.14", Real(3.14)},
		{"real leading point", ".5", Real(0.5)},
		{"real negative leading point", "-.5", Real(-0.5)},
		{"real plus leading point", "+.25", Real(0.25)},
		{"real trailing point", "4.", Real(4)},
		{"real small", "-0.002", Real(-0.002)},
		{"int overflow becomes real", "99999999999999999999", Real(1e20)},
		{"name", "/Type", Name("Type")},
		{"name hex escape", "/A#20B", Name("A B")},
		{"name escaped slash", "/#2F", Name("/")},
		{"name lower hex", "/#2f#3c", Name("/<")},
		{"empty name", "/", Name("")},
		{"name bad escape kept", "/a#zz", Name("a#zz")},
		{"name short escape kept", "/a#4", Name("a#4")},
		{"name non-ascii", "/Ti\xe1\xba\xbfng", Name("Ti\xe1\xba\xbfng")},
		{"literal", "(abc)", str("abc")},
		{"literal empty", "()", str("")},
		{"literal nested", "(a(b(c))d)", str("a(b(c))d")},
		{"literal escapes", `(\n\r\t\b\f\(\)\\)`, str("\n\r\t\b\f()\\")},
		{"literal octal", `(\101\60\0)`, str("A0\x00")},
		{"literal octal three digits then digit", `(\1234)`, str("S4")},
		{"literal octal overflow", `(\777)`, str("\xff")},
		{"literal unknown escape", `(\q)`, str("q")},
		{"literal continuation LF", "(ab\\\ncd)", str("abcd")},
		{"literal continuation CRLF", "(ab\\\r\ncd)", str("abcd")},
		{"literal continuation CR", "(ab\\\rcd)", str("abcd")},
		{"literal raw CRLF", "(a\r\nb)", str("a\nb")},
		{"literal raw CR", "(a\rb)", str("a\nb")},
		{"literal raw LF", "(a\nb)", str("a\nb")},
		{"literal binary", "(\x00\xff%)", str("\x00\xff%")},
		{"hex", "<48656C6C6F>", hexStr("Hello")},
		{"hex lower with space", "<48 65 6c\n6c\t6f>", hexStr("Hello")},
		{"hex odd digits", "<486>", hexStr("H`")},
		{"hex empty", "<>", hexStr("")},
		{"ref", "12 0 R", Ref{Num: 12}},
		{"ref generation", "7 65535 R", Ref{Num: 7, Gen: 65535}},
		{"ref with comment", "1 0 % c\n R", Ref{Num: 1}},
		{"array", "[1 2 0 R /N (s) 3.5]", Array{Int(1), Ref{Num: 2}, Name("N"), str("s"), Real(3.5)}},
		{"array two ints", "[1 2]", Array{Int(1), Int(2)}},
		{"array ints then ref", "[1 2 3 0 R]", Array{Int(1), Int(2), Ref{Num: 3}}},
		{"array empty", "[]", Array{}},
		{"array nested no spaces", "[[1][2]<<>>()/a]", Array{Array{Int(1)}, Array{Int(2)}, Dict{}, str(""), Name("a")}},
		{"array comment", "[1 % comment ]\n 2]", Array{Int(1), Int(2)}},
		{"array of keyword-like names", "[/R /obj]", Array{Name("R"), Name("obj")}},
		{"dict", "<< /A 1 /B << /C [true] >> >>", Dict{"A": Int(1), "B": Dict{"C": Array{Bool(true)}}}},
		{"dict null value is absent", "<< /A null /B 2 >>", Dict{"B": Int(2)}},
		{"dict no spaces", "<</A/B/C(x)/D<41>>>", Dict{"A": Name("B"), "C": str("x"), "D": hexStr("A")}},
		{"dict comment", "<< /A % c >>\n 1 >>", Dict{"A": Int(1)}},
		{"dict ref value", "<</Pages 2 0 R/Count 3>>", Dict{"Pages": Ref{Num: 2}, "Count": Int(3)}},
		{"leading comment", "% hello\n42", Int(42)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOne(tc.in)
			if err != nil {
				t.Fatalf("parse %q: %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parse %q = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseObjectErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		tooLarge bool
	}{
		{"empty", "", false},
		{"unterminated literal", "(abc", false},
		{"unterminated nested literal", "(a(b)", false},
		{"unterminated hex", "<414", false},
		{"bad hex digit", "<4G>", false},
		{"unterminated array", "[1 2", false},
		{"unterminated dict", "<< /A 1", false},
		{"dict key not a name", "<< 1 2 >>", false},
		{"dict key without value", "<< /A >>", false},
		{"dict bad end", "<< /A 1 >", false},
		{"stray close bracket", "]", false},
		{"stray close dict", ">>", false},
		{"stray brace", "{", false},
		{"two points", "1.2.3", false},
		{"double sign", "--1", false},
		{"lone sign", "-", false},
		{"lone point", ".", false},
		{"number with letters", "12abc", false},
		{"keyword", "endobj", false},
		{"negative generation", "[1 -2 R]", false},
		{"object number out of range", "4294967296 0 R", false},
		{"generation out of range", "1 65536 R", false},
		{"nesting arrays", strings.Repeat("[", 100000), true},
		{"nesting dicts", strings.Repeat("<</A ", 1000), true},
		{"long token", strings.Repeat("1", 1000), true},
		{"real out of range", strings.Repeat("9", 400), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOne(tc.in)
			if err == nil {
				t.Fatalf("parse %q = %#v, want an error", tc.in, o)
			}
			if !isFormatError(err) {
				t.Fatalf("parse %q: %v is not a *FormatError", tc.in, err)
			}
			if got := errors.Is(err, ErrTooLarge); got != tc.tooLarge {
				t.Fatalf("parse %q: errors.Is(err, ErrTooLarge) = %v (%v)", tc.in, got, err)
			}
		})
	}
}

func TestAppendObject(t *testing.T) {
	tests := []struct {
		name string
		in   Object
		want string
	}{
		{"null", Null{}, "null"},
		{"bools", Array{Bool(true), Bool(false)}, "[true false]"},
		{"ints", Array{Int(0), Int(-5), Int(math.MaxInt64)}, "[0 -5 9223372036854775807]"},
		{"real half", Real(0.5), "0.5"},
		{"real negative", Real(-12.25), "-12.25"},
		{"real no exponent", Real(1e-5), "0.00001"},
		{"real large", Real(1e21), "1000000000000000000000.0"},
		{"real integral keeps point", Real(12), "12.0"},
		{"real negative zero", Real(math.Copysign(0, -1)), "0.0"},
		{"real shortest", Real(595.28), "595.28"},
		{"name plain", Name("Type"), "/Type"},
		{"name escapes", Name("A B#(x)/\x00\xff"), "/A#20B#23#28x#29#2F#00#FF"},
		{"name empty", Name(""), "/"},
		{"literal string", str("a(b)c\\d\r\n\te"), `(a\(b\)c\\d\r\n` + "\te)"},
		{"hex string", hexStr("\xfe\xff\x00A"), "<FEFF0041>"},
		{"ref", Ref{Num: 12, Gen: 3}, "12 3 R"},
		{"dict sorted", Dict{"b": Int(2), "a": Int(1), "C": Array{}}, "<</C []/a 1/b 2>>"},
		{"dict nil", Dict(nil), "<<>>"},
		{"stream marker", &Stream{Dict: Dict{}}, unserializableMarker},
		{"stream value marker", Stream{}, unserializableMarker},
		{"go nil marker", nil, unserializableMarker},
		{"foreign type marker", 42, unserializableMarker},
		{"NaN marker", Real(math.NaN()), unserializableMarker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendObject([]byte("x"), tc.in))
			if got != "x"+tc.want {
				t.Fatalf("AppendObject(%#v) = %q, want %q", tc.in, got[1:], tc.want)
			}
		})
	}
}

func TestCheckSerializable(t *testing.T) {
	tests := []struct {
		name string
		in   Object
		ok   bool
	}{
		{"dict", Dict{"A": Array{Int(1), Ref{Num: 1}, str("x"), Name("n"), Real(1), Bool(true), Null{}}}, true},
		{"stream inside", Dict{"A": Array{&Stream{}}}, false},
		{"nil inside", Array{nil}, false},
		{"inf", Real(math.Inf(1)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSerializable(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckSerializable = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	deep := Object(Int(1))
	for range maxWriteDepth + 5 {
		deep = Array{deep}
	}
	if err := CheckSerializable(deep); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("deep: %v", err)
	}
	// A self-referencing Dict must not recurse forever.
	self := Dict{}
	self["Self"] = self
	if out := AppendObject(nil, self); !strings.Contains(string(out), unserializableMarker) {
		t.Fatal("self-referencing dict written without the marker")
	}
}

func TestRoundTrip(t *testing.T) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	objects := []Object{
		Null{}, Bool(true), Bool(false), Int(0), Int(-1), Int(math.MinInt64), Int(math.MaxInt64),
		Real(0.5), Real(-12.25), Real(1e-5), Real(12), Real(1e-300), Real(math.MaxFloat64), Real(-0.1),
		Real(1.0 / 3), Real(123456789.123456789),
		Name(""), Name("Type"), Name(string(allBytes[1:])), Name("#"), Name("a#20"),
		String{Bytes: allBytes}, String{Bytes: allBytes, Hex: true}, str(""), hexStr(""),
		str("(((unbalanced"), str("))"), str("\\"), str("\r\n\r"), str("line\\\ncontinued"),
		Ref{Num: 0}, Ref{Num: math.MaxUint32 - 1, Gen: math.MaxUint16},
		Array{}, Dict{},
		Array{Int(1), Int(2), Ref{Num: 3, Gen: 4}, Int(5), Name("R")},
		Dict{
			"Type": Name("Sig"), "ByteRange": Array{Int(0), Int(100), Int(200), Int(300)},
			"Contents": String{Bytes: make([]byte, 64), Hex: true},
			"M":        str("D:20261122140509+07'00'"),
			"Nested":   Dict{"A": Array{Array{Dict{"B": Null{}}}}, "Weird key (#)": Real(-0.001)},
		},
	}
	for i, o := range objects {
		text := AppendObject(nil, o)
		got, err := parseOne(string(text))
		if err != nil {
			t.Fatalf("object %d: parse %q: %v", i, text, err)
		}
		want := o
		if d, ok := o.(Dict); ok {
			// Null values are dropped on reading, as the standard says.
			want = dropNulls(d)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("object %d: round trip through %q gave %#v, want %#v", i, text, got, want)
		}
	}
}

func dropNulls(o Object) Object {
	switch v := o.(type) {
	case Dict:
		d := Dict{}
		for k, e := range v {
			if _, isNull := e.(Null); !isNull {
				d[k] = dropNulls(e)
			}
		}
		return d
	case Array:
		a := make(Array, len(v))
		for i, e := range v {
			a[i] = dropNulls(e)
		}
		return a
	}
	return o
}
