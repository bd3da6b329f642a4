package tray

import (
	"bytes"
	"context"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
)

// fakeItem is what renderMenu's add made: a recorder for the tree.
type fakeItem struct {
	it     Item
	parent *fakeItem
}

func TestRenderMenuMapsActionIDs(t *testing.T) {
	s := State{
		Version: "test",
		Port:    18765,
		Tokens:  []TokenView{{ID: "tok1", Label: "VNPT-CA"}},
		Approved: []SiteView{
			{Origin: "https://a.example.vn", Approved: time.Now()},
			{Origin: "https://b.example.vn", Approved: time.Now()},
			{Origin: "https://*.gov.vn", Managed: true},
		},
		Lang: i18n.Vietnamese,
	}
	m := Build(s)
	var added []*fakeItem
	seps := map[*fakeItem]int{}
	got := renderMenu(m.Items, (*fakeItem)(nil),
		func(parent *fakeItem, it Item) *fakeItem {
			f := &fakeItem{it: it, parent: parent}
			added = append(added, f)
			return f
		},
		func(parent *fakeItem) { seps[parent]++ })

	// Every action is mapped by its ID to the item made for it, and
	// nothing else is.
	var want []string
	nonSep, sepCount := 0, 0
	m.Walk(func(parents []string, it Item) bool {
		switch it.Kind {
		case KindAction:
			want = append(want, it.ID)
		case KindSeparator:
			sepCount++
			return true
		}
		nonSep++
		return true
	})
	var ids []string
	for id, f := range got {
		ids = append(ids, id)
		if f.it.ID != id {
			t.Errorf("%q maps to the item of %q", id, f.it.ID)
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("mapped IDs %q, want %q", ids, want)
	}
	for _, id := range []string{PrefixRevoke + "https://a.example.vn", PrefixRevoke + "https://b.example.vn", IDRevokeAll, IDQuit, PrefixLock + "tok1"} {
		if _, ok := got[id]; !ok {
			t.Errorf("no item for %q", id)
		}
	}
	if _, ok := got["site:https://*.gov.vn"]; ok {
		t.Error("a managed site's information line is clickable")
	}
	if len(added) != nonSep {
		t.Errorf("added %d items, want %d", len(added), nonSep)
	}
	total := 0
	for _, n := range seps {
		total += n
	}
	if total != sepCount {
		t.Errorf("added %d separators, want %d", total, sepCount)
	}

	// Items keep their place in the tree: a site's revoke item is under
	// the site, which is under the sites submenu at the root.
	r := got[PrefixRevoke+"https://a.example.vn"]
	if r.parent == nil || r.parent.it.ID != "site:https://a.example.vn" ||
		r.parent.parent == nil || r.parent.parent.it.ID != "sites" || r.parent.parent.parent != nil {
		t.Errorf("revoke item misplaced: %+v", r)
	}
	if got[IDQuit].parent != nil {
		t.Error("quit is not at the root")
	}
	// Order is kept: the root's items in Build's order.
	var rootIDs, wantRoot []string
	for _, f := range added {
		if f.parent == nil {
			rootIDs = append(rootIDs, f.it.ID)
		}
	}
	for _, it := range m.Items {
		if it.Kind != KindSeparator {
			wantRoot = append(wantRoot, it.ID)
		}
	}
	if !slices.Equal(rootIDs, wantRoot) {
		t.Errorf("root order %q, want %q", rootIDs, wantRoot)
	}
}

func TestIcons(t *testing.T) {
	seen := map[string]Icon{}
	for _, i := range []Icon{IconReady, IconNoToken, IconSigning, IconWaiting, IconError} {
		b := IconPNG(i)
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%v: %v", i, err)
		}
		if sz := img.Bounds().Size(); sz.X != IconSize || sz.Y != IconSize {
			t.Errorf("%v: size %v", i, sz)
		}
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%v: corner not transparent", i)
		}
		if _, _, _, a := img.At(IconSize/2, IconSize/2).RGBA(); a != 0xffff {
			t.Errorf("%v: centre not opaque", i)
		}
		if j, dup := seen[string(b)]; dup {
			t.Errorf("%v looks like %v", i, j)
		}
		seen[string(b)] = i

		ico := IconICO(i)
		if !bytes.Equal(ico[:6], []byte{0, 0, 1, 0, 1, 0}) || !bytes.Equal(ico[22:], b) {
			t.Errorf("%v: bad .ico wrapping", i)
		}
	}
}

func TestRunNeedsConfig(t *testing.T) {
	err := New().Run(context.Background(), Config{})
	if err == nil || !strings.Contains(err.Error(), "State") {
		t.Errorf("Run with an empty Config: %v", err)
	}
}
