package appearance

import (
	"testing"

	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

func TestDrawImage(t *testing.T) {
	tests := []struct {
		name       string
		image      string
		x, y, w, h float64
		want       string
	}{
		{"integers", "Im1", 0, 0, 100, 50, "q 100 0 0 50 0 0 cm /Im1 Do Q\n"},
		{"fractions rounded", "Sig", 10.5, 20.123456, MM(40), 0.00004, "q 113.3858 0 0 0 10.5 20.1235 cm /Sig Do Q\n"},
		{"negative zero", "Im1", -0.00001, 1, 2, 3, "q 2 0 0 3 0 1 cm /Im1 Do Q\n"},
		{"name escaped", "A B#", 1, 2, 3, 4, "q 3 0 0 4 1 2 cm /A#20B#23 Do Q\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Form
			f.DrawImage(tt.image, tt.x, tt.y, tt.w, tt.h)
			if string(f.Content) != tt.want {
				t.Errorf("got %q, want %q", f.Content, tt.want)
			}
		})
	}
	var f Form
	f.DrawImage("A", 1, 2, 3, 4)
	f.DrawImage("B", 5, 6, 7, 8)
	if want := "q 3 0 0 4 1 2 cm /A Do Q\nq 7 0 0 8 5 6 cm /B Do Q\n"; string(f.Content) != want {
		t.Errorf("two images: %q", f.Content)
	}
}

func TestFormDict(t *testing.T) {
	tests := []struct {
		name string
		form func() *Form
		want string
	}{
		{
			"zero form",
			func() *Form { return &Form{} },
			"<</BBox [0 0 0 0]/FormType 1/Matrix [1 0 0 1 0 0]/Resources <<>>/Subtype /Form/Type /XObject>>",
		},
		{
			"placed on a page turned by 90°",
			func() *Form {
				_, m, bw, bh := PageGeometry{MediaBox: [4]float64{0, 0, 595, 842}, Rotate: 90}.PlaceMM(10, 20, 60, 30)
				f := &Form{BBox: Rect{0, 0, bw, bh}, Matrix: m}
				f.AddImage("Sig", pdf.Ref{Num: 12})
				f.AddImage("Seal", pdf.Ref{Num: 14})
				return f
			},
			"<</BBox [0 0 170.0787 85.0394]/FormType 1/Matrix [0 1 -1 0 85.0394 0]/Resources <</XObject <</Seal 14 0 R/Sig 12 0 R>>>>/Subtype /Form/Type /XObject>>",
		},
		{
			"existing resources kept",
			func() *Form {
				f := &Form{BBox: Rect{0, 0, 10, 10}, Matrix: [6]float64{1, 0, 0, 1, 0, 0}, Resources: pdf.Dict{"ProcSet": pdf.Array{pdf.Name("PDF")}}}
				f.AddImage("Im1", pdf.Ref{Num: 3})
				return f
			},
			"<</BBox [0 0 10 10]/FormType 1/Matrix [1 0 0 1 0 0]/Resources <</ProcSet [/PDF]/XObject <</Im1 3 0 R>>>>/Subtype /Form/Type /XObject>>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.form().Dict()
			if err := pdf.CheckSerializable(d); err != nil {
				t.Fatal(err)
			}
			if got := string(pdf.AppendObject(nil, d)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if _, ok := d["Length"]; ok {
				t.Error("/Length is the writer's job")
			}
		})
	}
}
