package installer

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// Group Policy templates (ADMX, with ADML language resources) for the
// agent's settings under HKLM\Software\Policies\kyso, so that IT can set
// them in the Group Policy editor instead of importing .reg files. Value
// names and types are those agent/policy_windows.go reads: list policies
// are multiText elements (REG_MULTI_SZ in the policy key itself, not the
// numbered subkey a <list> element would write), UserMayApprove a
// REG_DWORD 0 or 1, TSA and DefaultLevel REG_SZ.
//
// The templates are built from one table so that every string and
// presentation the ADMX names exists in both ADMLs.

const (
	admxNamespace = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
	admxTarget    = "Kyso.Policies.Kyso"
	admxCategory  = "Kyso"
	admxSupported = "SUPPORTED_Kyso"
)

// localized is a Vietnamese and an English text.
type localized struct{ vi, en string }

func (l localized) in(lang string) string {
	if lang == "en" {
		return l.en
	}
	return l.vi
}

type admxKind int

const (
	admxMultiText admxKind = iota // REG_MULTI_SZ
	admxOnOff                     // REG_DWORD 1 (enabled) or 0 (disabled)
	admxText                      // REG_SZ
	admxEnum                      // REG_SZ, one of items
)

// admxSetting is one policy of the template; name is both the policy's
// and the registry value's name.
type admxSetting struct {
	name    string
	kind    admxKind
	display localized
	explain localized
	label   localized // the presentation's label (not for admxOnOff)
	items   []admxItem
}

type admxItem struct {
	value   string
	display localized
}

func admxSettings() []admxSetting {
	return []admxSetting{
		{
			name: "AllowedOrigins", kind: admxMultiText,
			display: localized{"Các trang web được dùng tác tử ký số", "Sites allowed to use the signing agent"},
			explain: localized{
				"Các nguồn (origin) được kết nối tới kyso mà không cần hỏi người dùng, mỗi dòng một nguồn: https://qlvb.example.gov.vn, https://dms.example.vn:8443, hoặc https://*.example.gov.vn cho mọi tên miền con (không gồm chính example.gov.vn).\n\nChỉ dùng https (http chỉ cho 127.0.0.1 và localhost); không có đường dẫn, kể cả dấu / ở cuối. Trình duyệt còn cần chính sách Local Network Access (LoopbackNetworkAllowedForUrls) cho cùng các trang: xem bộ chính sách do kyso policy generate tạo ra.",
				"Origins that may connect to kyso without asking the user, one per line: https://qlvb.example.gov.vn, https://dms.example.vn:8443, or https://*.example.gov.vn for every subdomain (not example.gov.vn itself).\n\nhttps only (http only for 127.0.0.1 and localhost); no path, not even a trailing /. Browsers also need their Local Network Access policy (LoopbackNetworkAllowedForUrls) for the same sites: see the kit kyso policy generate makes.",
			},
			label: localized{"Nguồn (mỗi dòng một nguồn):", "Origins (one per line):"},
		},
		{
			name: "HashSigningOrigins", kind: admxMultiText,
			display: localized{"Các trang web được ký giá trị băm", "Sites allowed to sign digests"},
			explain: localized{
				"Các nguồn được gọi signHash: ký một giá trị băm do máy chủ chuẩn bị mà tác tử không thấy nội dung văn bản. Mỗi dòng một nguồn chính xác (không dùng *), và nguồn đó cũng phải có trong danh sách các trang được dùng tác tử.\n\nNếu không cấu hình, không trang nào được ký giá trị băm.",
				"Origins that may call signHash: signing a digest a server prepared, without the agent seeing the document. One exact origin per line (no *); each must also be among the sites allowed to use the agent.\n\nWhen not configured, no site may sign digests.",
			},
			label: localized{"Nguồn (mỗi dòng một nguồn):", "Origins (one per line):"},
		},
		{
			name: "UserMayApprove", kind: admxOnOff,
			display: localized{"Cho người dùng tự cho phép trang web khác", "Let users approve other sites"},
			explain: localized{
				"Bật hoặc không cấu hình: khi một trang không có trong danh sách kết nối tới, kyso hỏi người dùng có cho phép không.\n\nTắt: mọi trang không có trong danh sách đều bị từ chối, không hỏi.",
				"Enabled or not configured: when a site outside the list connects, kyso asks the user whether to allow it.\n\nDisabled: every site outside the list is refused without a question.",
			},
		},
		{
			name: "TSA", kind: admxText,
			display: localized{"Máy chủ dấu thời gian", "Timestamp server"},
			explain: localized{
				"Địa chỉ http:// hoặc https:// của máy chủ dấu thời gian (RFC 3161) dùng cho chữ ký B-T, B-LT và B-LTA. Thay cho lựa chọn của người dùng.",
				"The http:// or https:// address of the timestamp server (RFC 3161) used for B-T, B-LT and B-LTA signatures. Overrides the user's choice.",
			},
			label: localized{"Địa chỉ:", "Address:"},
		},
		{
			name: "DefaultLevel", kind: admxEnum,
			display: localized{"Mức chữ ký PAdES mặc định", "Default PAdES signature level"},
			explain: localized{
				"Mức chữ ký khi trang web không chỉ định. B-T, B-LT và B-LTA cần máy chủ dấu thời gian.",
				"The signature level when the site names none. B-T, B-LT and B-LTA need a timestamp server.",
			},
			label: localized{"Mức:", "Level:"},
			items: []admxItem{
				{"B-B", localized{"B-B (chữ ký cơ bản)", "B-B (basic signature)"}},
				{"B-T", localized{"B-T (kèm dấu thời gian)", "B-T (with a timestamp)"}},
				{"B-LT", localized{"B-LT (kèm dữ liệu kiểm tra dài hạn)", "B-LT (with long-term validation data)"}},
				{"B-LTA", localized{"B-LTA (lưu trữ dài hạn)", "B-LTA (long-term archive)"}},
			},
		},
	}
}

// The ADMX schema's elements, as far as the template uses them.
type (
	admxDoc struct {
		XMLName       xml.Name       `xml:"policyDefinitions"`
		Xmlns         string         `xml:"xmlns,attr"`
		Revision      string         `xml:"revision,attr"`
		SchemaVersion string         `xml:"schemaVersion,attr"`
		Target        admxTargetElem `xml:"policyNamespaces>target"`
		Resources     admxResources  `xml:"resources"`
		SupportedOn   []admxDef      `xml:"supportedOn>definitions>definition"`
		Categories    []admxCat      `xml:"categories>category"`
		Policies      []admxPolicy   `xml:"policies>policy"`
	}
	admxTargetElem struct {
		Prefix    string `xml:"prefix,attr"`
		Namespace string `xml:"namespace,attr"`
	}
	admxResources struct {
		MinRequiredRevision string `xml:"minRequiredRevision,attr"`
	}
	admxDef struct {
		Name        string `xml:"name,attr"`
		DisplayName string `xml:"displayName,attr"`
	}
	admxCat struct {
		Name        string `xml:"name,attr"`
		DisplayName string `xml:"displayName,attr"`
		ExplainText string `xml:"explainText,attr,omitempty"`
	}
	admxRef struct {
		Ref string `xml:"ref,attr"`
	}
	admxDecimal struct {
		Value uint32 `xml:"value,attr"`
	}
	admxValue struct {
		Decimal *admxDecimal `xml:"decimal,omitempty"`
		String  *string      `xml:"string,omitempty"`
	}
	admxPolicy struct {
		Name           string     `xml:"name,attr"`
		Class          string     `xml:"class,attr"`
		DisplayName    string     `xml:"displayName,attr"`
		ExplainText    string     `xml:"explainText,attr"`
		Presentation   string     `xml:"presentation,attr,omitempty"`
		Key            string     `xml:"key,attr"`
		ValueName      string     `xml:"valueName,attr,omitempty"`
		ParentCategory admxRef    `xml:"parentCategory"`
		SupportedOn    admxRef    `xml:"supportedOn"`
		EnabledValue   *admxValue `xml:"enabledValue,omitempty"`
		DisabledValue  *admxValue `xml:"disabledValue,omitempty"`
		Elements       *admxElems `xml:"elements,omitempty"`
	}
	admxElems struct {
		MultiText *admxMultiTextElem `xml:"multiText,omitempty"`
		Text      *admxTextElem      `xml:"text,omitempty"`
		Enum      *admxEnumElem      `xml:"enum,omitempty"`
	}
	admxMultiTextElem struct {
		ID        string `xml:"id,attr"`
		ValueName string `xml:"valueName,attr"`
	}
	admxTextElem struct {
		ID        string `xml:"id,attr"`
		ValueName string `xml:"valueName,attr"`
		Required  bool   `xml:"required,attr"`
		MaxLength int    `xml:"maxLength,attr"`
	}
	admxEnumElem struct {
		ID        string         `xml:"id,attr"`
		ValueName string         `xml:"valueName,attr"`
		Required  bool           `xml:"required,attr"`
		Items     []admxEnumItem `xml:"item"`
	}
	admxEnumItem struct {
		DisplayName string    `xml:"displayName,attr"`
		Value       admxValue `xml:"value"`
	}
)

// The ADML schema's elements.
type (
	admlDoc struct {
		XMLName       xml.Name      `xml:"policyDefinitionResources"`
		Xmlns         string        `xml:"xmlns,attr"`
		Revision      string        `xml:"revision,attr"`
		SchemaVersion string        `xml:"schemaVersion,attr"`
		DisplayName   string        `xml:"displayName"`
		Description   string        `xml:"description"`
		Strings       []admlString  `xml:"resources>stringTable>string"`
		Presentations []admlPresent `xml:"resources>presentationTable>presentation"`
	}
	admlString struct {
		ID   string `xml:"id,attr"`
		Text string `xml:",chardata"`
	}
	admlPresent struct {
		ID           string        `xml:"id,attr"`
		MultiTextBox *admlLabelled `xml:"multiTextBox,omitempty"`
		TextBox      *admlTextBox  `xml:"textBox,omitempty"`
		DropdownList *admlDropdown `xml:"dropdownList,omitempty"`
	}
	admlLabelled struct {
		RefID string `xml:"refId,attr"`
		Label string `xml:",chardata"`
	}
	admlTextBox struct {
		RefID string `xml:"refId,attr"`
		Label string `xml:"label"`
	}
	admlDropdown struct {
		RefID       string `xml:"refId,attr"`
		NoSort      bool   `xml:"noSort,attr"`
		DefaultItem int    `xml:"defaultItem,attr"`
		Label       string `xml:",chardata"`
	}
)

// itemID names an enum item's string: "DefaultLevel_B_LTA" (identifiers
// keep to letters, digits and "_").
func itemID(setting, value string) string {
	return setting + "_" + strings.ReplaceAll(value, "-", "_")
}

func stringRef(id string) string       { return "$(string." + id + ")" }
func presentationRef(id string) string { return "$(presentation." + id + ")" }

// policyTemplates returns kyso.admx and its vi-VN and en-US kyso.adml.
func policyTemplates() (admx, vi, en []byte, err error) {
	settings := admxSettings()
	doc := admxDoc{
		Xmlns: admxNamespace, Revision: "1.0", SchemaVersion: "1.0",
		Target:      admxTargetElem{Prefix: "kyso", Namespace: admxTarget},
		Resources:   admxResources{MinRequiredRevision: "1.0"},
		SupportedOn: []admxDef{{Name: admxSupported, DisplayName: stringRef(admxSupported)}},
		Categories:  []admxCat{{Name: admxCategory, DisplayName: stringRef(admxCategory)}},
	}
	for _, s := range settings {
		p := admxPolicy{
			Name: s.name, Class: "Machine",
			DisplayName:    stringRef(s.name),
			ExplainText:    stringRef(s.name + "_Explain"),
			Key:            AgentPolicyKey,
			ParentCategory: admxRef{admxCategory},
			SupportedOn:    admxRef{admxSupported},
		}
		switch s.kind {
		case admxMultiText:
			p.Presentation = presentationRef(s.name)
			p.Elements = &admxElems{MultiText: &admxMultiTextElem{ID: s.name, ValueName: s.name}}
		case admxOnOff:
			p.ValueName = s.name
			p.EnabledValue = &admxValue{Decimal: &admxDecimal{1}}
			p.DisabledValue = &admxValue{Decimal: &admxDecimal{0}}
		case admxText:
			p.Presentation = presentationRef(s.name)
			p.Elements = &admxElems{Text: &admxTextElem{ID: s.name, ValueName: s.name, Required: true, MaxLength: 2048}}
		case admxEnum:
			p.Presentation = presentationRef(s.name)
			e := &admxEnumElem{ID: s.name, ValueName: s.name, Required: true}
			for _, it := range s.items {
				v := it.value
				e.Items = append(e.Items, admxEnumItem{DisplayName: stringRef(itemID(s.name, it.value)), Value: admxValue{String: &v}})
			}
			p.Elements = &admxElems{Enum: e}
		}
		doc.Policies = append(doc.Policies, p)
	}
	if admx, err = marshalXML(doc); err != nil {
		return nil, nil, nil, err
	}
	if vi, err = policyResources(settings, "vi"); err != nil {
		return nil, nil, nil, err
	}
	if en, err = policyResources(settings, "en"); err != nil {
		return nil, nil, nil, err
	}
	return admx, vi, en, nil
}

// policyResources is the ADML of one language.
func policyResources(settings []admxSetting, lang string) ([]byte, error) {
	doc := admlDoc{
		Xmlns: admxNamespace, Revision: "1.0", SchemaVersion: "1.0",
		DisplayName: localized{"kyso — tác tử ký số", "kyso — signing agent"}.in(lang),
		Description: localized{"Chính sách của máy cho tác tử ký số kyso", "Machine policy of the kyso signing agent"}.in(lang),
		Strings: []admlString{
			{admxCategory, localized{"kyso (ký số)", "kyso (digital signing)"}.in(lang)},
			{admxSupported, localized{"kyso 1.0 trở lên", "kyso 1.0 or later"}.in(lang)},
		},
	}
	for _, s := range settings {
		doc.Strings = append(doc.Strings,
			admlString{s.name, s.display.in(lang)},
			admlString{s.name + "_Explain", s.explain.in(lang)})
		for _, it := range s.items {
			doc.Strings = append(doc.Strings, admlString{itemID(s.name, it.value), it.display.in(lang)})
		}
		label := s.label.in(lang)
		switch s.kind {
		case admxMultiText:
			doc.Presentations = append(doc.Presentations, admlPresent{ID: s.name, MultiTextBox: &admlLabelled{RefID: s.name, Label: label}})
		case admxText:
			doc.Presentations = append(doc.Presentations, admlPresent{ID: s.name, TextBox: &admlTextBox{RefID: s.name, Label: label}})
		case admxEnum:
			doc.Presentations = append(doc.Presentations, admlPresent{ID: s.name, DropdownList: &admlDropdown{RefID: s.name, NoSort: true, Label: label}})
		}
	}
	return marshalXML(doc)
}

func marshalXML(v any) ([]byte, error) {
	data, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("policy templates: %w", err)
	}
	out := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	out = append(out, data...)
	return append(out, '\n'), nil
}
