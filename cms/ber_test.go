package cms

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestBERToDER(t *testing.T) {
	tests := []struct {
		name     string
		ber, der string
		wantErr  bool
	}{
		{"already DER", "3003020101", "3003020101", false},
		{"indefinite SEQUENCE", "3080020101" + "0000", "3003020101", false},
		{"nested indefinite", "30803080020102" + "0000" + "0000", "30053003020102", false},
		{"chunked OCTET STRING", "2480" + "04026162" + "040163" + "0000", "0403616263", false},
		{"trailing zero padding", "3003020101000000", "3003020101", false},
		{"missing end-of-contents", "3080020101", "", true},
		{"indefinite primitive", "0480" + "0000", "", true},
		{"length beyond data", "3005020101", "", true},
		{"trailing garbage", "300302010199", "", true},
		{"foreign chunk in OCTET STRING", "2480" + "020101" + "0000", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.ber)
			got, err := berToDER(in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			want, _ := hex.DecodeString(tt.der)
			if !tt.wantErr && !bytes.Equal(got, want) {
				t.Fatalf("got %x, want %s", got, tt.der)
			}
		})
	}
	deep := bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2)
	if _, err := berToDER(deep); err == nil {
		t.Fatal("hostile nesting accepted")
	}
}
