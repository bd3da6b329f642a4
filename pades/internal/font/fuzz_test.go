package font

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse; a font it accepts must then
// survive every other operation, and its subset must parse again.
func FuzzParse(f *testing.F) {
	regular := fontBytes(f, Regular)
	face := loadFace(f, Regular)
	s := face.NewSubset()
	s.Encode("Việt Nam")
	program, err := s.program()
	if err != nil {
		f.Fatal(err)
	}
	tiny := tinyFont(f)
	f.Add(tiny)
	f.Add(tiny[:len(tiny)-20])
	f.Add(program)
	f.Add(program[:len(program)/3])
	f.Add(regular[:4096])
	f.Add([]byte("OTTO"))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 'h', 'e', 'a', 'd', 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 54})
	f.Fuzz(func(t *testing.T, data []byte) {
		face, err := Parse(data)
		if err != nil {
			return
		}
		const text = "Vie\u0323\u0302t Nam \u1ef1 \u1ea4 A 国"
		_ = face.Name()
		_ = face.Width(text, 12)
		_, _, _ = face.Metrics(12)
		_ = face.HasGlyphs(text)
		sub := face.NewSubset()
		sub.ShowText(nil, text)
		_, objs, err := sub.Objects(refAllocator(1))
		if err != nil {
			return // malformed glyph data or a licence that forbids embedding
		}
		if _, err := Parse(inflate(t, objs[3].Data)); err != nil {
			t.Fatalf("the subset of an accepted font does not parse: %v", err)
		}
	})
}
