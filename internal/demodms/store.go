package demodms

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"
)

// Document states. A document's state follows the last signature it got
// (see stateAfter) or what the exchange did to it.
const (
	StateNew       = "new"       // uploaded or seeded, not signed in this system yet
	StateApproved  = "approved"  // the leader signed (ký phê duyệt)
	StateIssued    = "issued"    // the clerk added the organisation's signature (ký phát hành)
	StateAppendix  = "appendix"  // a separate appendix file signed by the organisation
	StateCopy      = "copy"      // an electronic copy (SAO Y, SAO LỤC, TRÍCH SAO)
	StateCommented = "commented" // a reviewer's comment signature
	StateSigned    = "signed"    // a plain signature
	StateForwarded = "forwarded" // sent to another agency's inbox (W5)
	StateIncoming  = "incoming"  // arrived from another agency, not received yet
	StateReceived  = "received"  // the receiving clerk stamped it (ký tiếp nhận)
)

// stateName is the Vietnamese label pages show for a state.
func stateName(state string) string {
	switch state {
	case StateNew:
		return "Mới (chưa ký)"
	case StateApproved:
		return "Lãnh đạo đã ký phê duyệt"
	case StateIssued:
		return "Đã ký phát hành"
	case StateAppendix:
		return "Phụ lục đã ký"
	case StateCopy:
		return "Bản sao điện tử"
	case StateCommented:
		return "Đã ký góp ý"
	case StateSigned:
		return "Đã ký"
	case StateForwarded:
		return "Đã gửi liên thông"
	case StateIncoming:
		return "Văn bản đến, chờ tiếp nhận"
	case StateReceived:
		return "Đã tiếp nhận"
	}
	return state
}

// profileName is the Vietnamese name of a signing profile
// (agent.SignPDFOptions.Profile); "" is a plain signature.
func profileName(p string) string {
	switch p {
	case "approved":
		return "Ký phê duyệt"
	case "issued":
		return "Ký phát hành"
	case "appendix":
		return "Ký phụ lục"
	case "copy":
		return "Ký bản sao"
	case "income":
		return "Ký tiếp nhận văn bản đến"
	case "comment":
		return "Ký góp ý"
	case "":
		return "Ký số"
	}
	return p
}

// knownProfile reports whether p is a profile the agent offers.
func knownProfile(p string) bool {
	switch p {
	case "", "approved", "issued", "appendix", "copy", "income", "comment":
		return true
	}
	return false
}

// stateAfter is a document's state once it got a signature of profile p.
func stateAfter(p string) string {
	switch p {
	case "approved":
		return StateApproved
	case "issued":
		return StateIssued
	case "appendix":
		return StateAppendix
	case "copy":
		return StateCopy
	case "income":
		return StateReceived
	case "comment":
		return StateCommented
	}
	return StateSigned
}

// Signature is one entry of a document's history: a signed version the
// system accepted.
type Signature struct {
	Profile   string     `json:"profile"`
	ProfileVi string     `json:"profileVi"`
	Signer    string     `json:"signer,omitempty"`       // the new signature's signer (certificate CN), when it could be read
	Org       string     `json:"organization,omitempty"` // the signer certificate's O
	User      string     `json:"user,omitempty"`         // who uploaded, as the caller said
	Agency    string     `json:"agency"`                 // the agency whose system accepted it
	DocNumber string     `json:"docNumber,omitempty"`
	Via       string     `json:"via"`                // "sdk" (kyso SDK pages) or "vgca" (the incumbent upload handler)
	Meta      []KeyValue `json:"metadata,omitempty"` // the incumbent caller's MetaData
	At        time.Time  `json:"at"`
	Size      int        `json:"size"`
	SHA256    string     `json:"sha256"`
}

// Origin tells where an incoming document came from.
type Origin struct {
	Agency   string `json:"agency"`
	Name     string `json:"name"`
	Document string `json:"document"`
}

// Document is a document's metadata as the API shows it; the bytes are
// served by /files/{id}.
type Document struct {
	ID          string      `json:"id"`
	Agency      string      `json:"agency"`
	Name        string      `json:"name"`
	State       string      `json:"state"`
	StateVi     string      `json:"stateVi"`
	Size        int         `json:"size"`
	Pages       int         `json:"pages,omitempty"`
	SHA256      string      `json:"sha256"`
	Created     time.Time   `json:"created"`
	Updated     time.Time   `json:"updated"`
	From        *Origin     `json:"from,omitempty"`
	ForwardedTo []string    `json:"forwardedTo,omitempty"`
	History     []Signature `json:"history"`
}

// record is a stored document; data is never modified in place (a new
// version replaces the slice), so readers may keep it after unlocking.
type record struct {
	meta Document
	data []byte
}

// store holds every agency's documents in memory. Document IDs are unique
// across agencies; each agency sees only its own.
type store struct {
	mu   sync.Mutex
	next int
	docs map[string]*record
	// order keeps documents in creation order.
	order []string
	now   func() time.Time
}

func newStore(now func() time.Time) *store {
	return &store{docs: map[string]*record{}, now: now}
}

// storeError is an error of the store; constants, so no package state.
type storeError string

func (e storeError) Error() string { return string(e) }

const (
	errNotFound    storeError = "document not found"
	errNotIncrease storeError = "the new file does not extend the current one"
)

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// add stores a new document for agency.
func (s *store) add(agency, name string, data []byte, pages int, from *Origin, history []Signature) Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	id := strconv.Itoa(s.next)
	now := s.now()
	state := StateNew
	if from != nil {
		state = StateIncoming
	}
	r := &record{
		meta: Document{ID: id, Agency: agency, Name: name, State: state, StateVi: stateName(state),
			Size: len(data), Pages: pages, SHA256: digest(data), Created: now, Updated: now, From: from,
			History: append([]Signature{}, history...)},
		data: data,
	}
	s.docs[id] = r
	s.order = append(s.order, id)
	return cloneDoc(r.meta)
}

func cloneDoc(d Document) Document {
	d.History = append([]Signature{}, d.History...)
	d.ForwardedTo = append([]string(nil), d.ForwardedTo...)
	if d.From != nil {
		f := *d.From
		d.From = &f
	}
	return d
}

// list returns agency's documents, newest first.
func (s *store) list(agency string) []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Document{}
	for i := len(s.order) - 1; i >= 0; i-- {
		r := s.docs[s.order[i]]
		if r.meta.Agency == agency {
			out = append(out, cloneDoc(r.meta))
		}
	}
	return out
}

// get returns one of agency's documents and its current bytes.
func (s *store) get(agency, id string) (Document, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.docs[id]
	if !ok || r.meta.Agency != agency {
		return Document{}, nil, errNotFound
	}
	return cloneDoc(r.meta), r.data, nil
}

// replace stores a signed version of a document. The new bytes must
// extend the current ones (a PDF incremental update keeps every earlier
// byte), else errNotIncrease. sig's size, digest, time and agency are
// filled in here.
func (s *store) replace(agency, id string, data []byte, sig Signature) (Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.docs[id]
	if !ok || r.meta.Agency != agency {
		return Document{}, errNotFound
	}
	if len(data) <= len(r.data) || !bytes.HasPrefix(data, r.data) {
		return Document{}, errNotIncrease
	}
	now := s.now()
	sig.Agency, sig.At, sig.Size, sig.SHA256 = agency, now, len(data), digest(data)
	sig.ProfileVi = profileName(sig.Profile)
	r.data = data
	r.meta.Size, r.meta.SHA256, r.meta.Updated = len(data), sig.SHA256, now
	r.meta.State = stateAfter(sig.Profile)
	r.meta.StateVi = stateName(r.meta.State)
	r.meta.History = append(r.meta.History, sig)
	return cloneDoc(r.meta), nil
}

// forward copies one of from's documents into to's inbox and marks the
// original as forwarded. It returns the new (incoming) document.
func (s *store) forward(from Agency, id string, to Agency) (Document, error) {
	s.mu.Lock()
	r, ok := s.docs[id]
	if !ok || r.meta.Agency != from.ID {
		s.mu.Unlock()
		return Document{}, errNotFound
	}
	r.meta.State = StateForwarded
	r.meta.StateVi = stateName(StateForwarded)
	r.meta.ForwardedTo = append(r.meta.ForwardedTo, to.ID)
	r.meta.Updated = s.now()
	name, data, pages, history := r.meta.Name, r.data, r.meta.Pages, append([]Signature{}, r.meta.History...)
	s.mu.Unlock()
	return s.add(to.ID, name, data, pages, &Origin{Agency: from.ID, Name: from.Name, Document: id}, history), nil
}

// countProfile is how many signatures of profile agency's documents got
// in year, for the next document or arrival number (numbers restart each
// calendar year and are unique per organisation, ND 30/2020 Điều 15.1).
func (s *store) countProfile(agency, profile string, year int, loc *time.Location) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.docs {
		if r.meta.Agency != agency {
			continue // forwarded copies carry the sender's history
		}
		for _, h := range r.meta.History {
			if h.Profile == profile && h.Agency == agency && h.At.In(loc).Year() == year {
				n++
			}
		}
	}
	return n
}
