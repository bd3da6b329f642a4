package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// ModuleStatus describes one PKCS#11 library the manager tried to load.
type ModuleStatus struct {
	Path            string `json:"path"`
	Loaded          bool   `json:"loaded"`
	Error           string `json:"error,omitempty"` // why it could not be loaded
	Manufacturer    string `json:"manufacturer,omitempty"`
	Description     string `json:"description,omitempty"`
	CryptokiVersion string `json:"cryptokiVersion,omitempty"`
	LibraryVersion  string `json:"libraryVersion,omitempty"`
	// SlotEvents is "wait" when the module supports C_WaitForSlotEvent and
	// "poll" when the manager polls its slot list instead.
	SlotEvents string `json:"slotEvents,omitempty"`
}

// PINStatus is the user PIN state a token reports in its flags.
type PINStatus struct {
	CountLow    bool `json:"countLow"`    // at least one wrong PIN since the last good one
	FinalTry    bool `json:"finalTry"`    // one more wrong PIN locks the token
	Locked      bool `json:"locked"`      // the user PIN is locked
	ToBeChanged bool `json:"toBeChanged"` // the PIN is the initial one or has expired
}

// RetriesLeft returns how many wrong PINs the token still accepts before it
// locks: 0 when locked, 1 on the final try, -1 when the token does not say.
func (p PINStatus) RetriesLeft() int {
	switch {
	case p.Locked:
		return 0
	case p.FinalTry:
		return 1
	default:
		return -1
	}
}

func pinStatusFromFlags(f uint) PINStatus {
	return PINStatus{
		CountLow:    f&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry:    f&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:      f&pkcs11.CKF_USER_PIN_LOCKED != 0,
		ToBeChanged: f&pkcs11.CKF_USER_PIN_TO_BE_CHANGED != 0,
	}
}

// TokenFlags are the token and slot flags kyso acts on, decoded.
type TokenFlags struct {
	LoginRequired bool `json:"loginRequired"`
	// ProtectedAuthPath means the PIN is entered on the reader's own pinpad;
	// the agent then logs in without asking for a PIN.
	ProtectedAuthPath bool `json:"protectedAuthPath"`
	Initialized       bool `json:"initialized"`
	WriteProtected    bool `json:"writeProtected"`
	RemovableDevice   bool `json:"removableDevice"`
	HardwareSlot      bool `json:"hardwareSlot"`
}

// TokenInfo describes a token present in a slot.
type TokenInfo struct {
	// ID identifies the token across listings: it is derived from the
	// module, the slot and the token's serial number.
	ID              string     `json:"id"`
	Module          string     `json:"module"`
	SlotID          uint       `json:"slotId"`
	SlotDescription string     `json:"slotDescription"`
	Label           string     `json:"label"`
	Manufacturer    string     `json:"manufacturer"`
	Model           string     `json:"model"`
	Serial          string     `json:"serial"`
	Flags           TokenFlags `json:"flags"`
	PIN             PINStatus  `json:"pin"`
	// Mechanisms lists the signing mechanisms the token offers, by name.
	Mechanisms []string `json:"mechanisms"`
}

func tokenID(module string, slot uint, serial string) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s", module, slot, serial)))
	return hex.EncodeToString(h[:8])
}

func makeTokenInfo(module string, slot uint, si pkcs11.SlotInfo, ti pkcs11.TokenInfo) TokenInfo {
	serial := strings.TrimSpace(ti.SerialNumber)
	return TokenInfo{
		ID:              tokenID(module, slot, serial),
		Module:          module,
		SlotID:          slot,
		SlotDescription: strings.TrimSpace(si.SlotDescription),
		Label:           strings.TrimSpace(ti.Label),
		Manufacturer:    strings.TrimSpace(ti.ManufacturerID),
		Model:           strings.TrimSpace(ti.Model),
		Serial:          serial,
		Flags: TokenFlags{
			LoginRequired:     ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0,
			ProtectedAuthPath: ti.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0,
			Initialized:       ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0,
			WriteProtected:    ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0,
			RemovableDevice:   si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0,
			HardwareSlot:      si.Flags&pkcs11.CKF_HW_SLOT != 0,
		},
		PIN: pinStatusFromFlags(ti.Flags),
	}
}

// mechanismNames are the mechanisms worth reporting for a signing agent.
// Tokens list dozens of mechanisms; only these matter to a user asking
// "can this token sign with PSS?".
var mechanismNames = map[uint]string{
	pkcs11.CKM_RSA_PKCS:            "RSA_PKCS",
	pkcs11.CKM_RSA_PKCS_PSS:        "RSA_PKCS_PSS",
	pkcs11.CKM_SHA256_RSA_PKCS:     "SHA256_RSA_PKCS",
	pkcs11.CKM_SHA384_RSA_PKCS:     "SHA384_RSA_PKCS",
	pkcs11.CKM_SHA512_RSA_PKCS:     "SHA512_RSA_PKCS",
	pkcs11.CKM_SHA256_RSA_PKCS_PSS: "SHA256_RSA_PKCS_PSS",
	pkcs11.CKM_ECDSA:               "ECDSA",
	pkcs11.CKM_ECDSA_SHA256:        "ECDSA_SHA256",
	pkcs11.CKM_SHA_1:               "SHA_1",
	pkcs11.CKM_SHA256:              "SHA256",
	pkcs11.CKM_SHA384:              "SHA384",
	pkcs11.CKM_SHA512:              "SHA512",
}

// mechanismName returns the short name of a mechanism ("RSA_PKCS_PSS").
func mechanismName(m uint) string {
	if n, ok := mechanismNames[m]; ok {
		return n
	}
	return fmt.Sprintf("0x%X", m)
}
