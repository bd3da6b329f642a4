// Package i18n holds kyso's user-facing strings in Vietnamese (the default)
// and English. Keys are stable identifiers; error messages are keyed by the
// stable error code ("err.PIN_INCORRECT").
package i18n

import (
	"fmt"
	"os"
	"strings"
)

// Lang is a user interface language.
type Lang string

// Supported languages.
const (
	Vietnamese Lang = "vi"
	English    Lang = "en"
)

// Parse reads a language name such as "en", "en_US.UTF-8" or "vi-VN".
// Anything that is not English is Vietnamese, the product's default.
func Parse(s string) Lang {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "en" || strings.HasPrefix(s, "en_") || strings.HasPrefix(s, "en-") || strings.HasPrefix(s, "en.") {
		return English
	}
	return Vietnamese
}

// FromEnv returns the language chosen by KYSO_LANG, or Vietnamese. LANG is
// deliberately not consulted: servers and CI images say en_US or C while the
// people using kyso read Vietnamese.
func FromEnv() Lang {
	if v := os.Getenv("KYSO_LANG"); v != "" {
		return Parse(v)
	}
	return Vietnamese
}

// T returns the message for key in l, formatted with args like fmt.Sprintf.
// An unknown key is returned as is, so a missing translation shows up
// rather than an empty string.
func (l Lang) T(key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		if len(args) > 0 {
			return key + " " + fmt.Sprint(args...)
		}
		return key
	}
	f := m.vi
	if l == English {
		f = m.en
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

// Has reports whether key has a message.
func Has(key string) bool {
	_, ok := catalog[key]
	return ok
}

type msg struct{ vi, en string }
