package pdfcorpus

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// The letter is a decision (Quyết định) of a provincial People's Committee
// laid out the way Decree 30/2020/NĐ-CP prescribes: the issuing body and
// the national motto side by side in a borderless table, number and date
// under them, a centred bold title, numbered articles, and the signer block
// on the right with the recipients ("Nơi nhận") on the left. It is written
// as a flat ODT document (one XML file) because that gives exact control
// over fonts, page size and margins, which an HTML import does not.

// letterArticles are the body paragraphs after "QUYẾT ĐỊNH:". They are long
// enough for the letter to run onto a second page, so page-tree walks and
// "last page" placements see more than one page.
func letterArticles() []string {
	return []string{
		"Điều 1. Ban hành kèm theo Quyết định này Quy chế tiếp nhận, xử lý, phát hành và quản lý văn bản điện tử có ký số trên Hệ thống quản lý văn bản và điều hành của tỉnh Bình Phước.",
		"Điều 2. Văn bản điện tử do các cơ quan, đơn vị trên địa bàn tỉnh phát hành phải được ký số bằng chứng thư số chuyên dùng Chính phủ do Ban Cơ yếu Chính phủ cấp, bảo đảm tính xác thực, tính toàn vẹn và chống chối bỏ theo quy định của Luật Giao dịch điện tử.",
		"Văn bản điện tử có ký số của người có thẩm quyền và chữ ký số của cơ quan, tổ chức có giá trị pháp lý như bản gốc văn bản giấy. Việc ký số được thực hiện theo thứ tự: người có thẩm quyền ký trước, văn thư cơ quan ký số và phát hành sau.",
		"Điều 3. Giao Sở Thông tin và Truyền thông chủ trì, phối hợp với Văn phòng Ủy ban nhân dân tỉnh hướng dẫn, kiểm tra việc thực hiện Quy chế này; tổng hợp khó khăn, vướng mắc, báo cáo Ủy ban nhân dân tỉnh xem xét, sửa đổi, bổ sung cho phù hợp với tình hình thực tế.",
		"Thủ trưởng các sở, ban, ngành; Chủ tịch Ủy ban nhân dân các huyện, thị xã, thành phố có trách nhiệm quán triệt, triển khai thực hiện Quy chế đến toàn thể cán bộ, công chức, viên chức thuộc phạm vi quản lý; bố trí kinh phí, trang thiết bị và nhân lực bảo đảm cho việc ứng dụng chữ ký số trong hoạt động của cơ quan, đơn vị.",
		"Điều 4. Quyết định này có hiệu lực thi hành kể từ ngày ký. Bãi bỏ Quyết định số 1234/QĐ-UBND ngày 18 tháng 7 năm 2019 của Chủ tịch Ủy ban nhân dân tỉnh về việc ban hành Quy chế quản lý, sử dụng chữ ký số trên địa bàn tỉnh.",
		"Điều 5. Chánh Văn phòng Ủy ban nhân dân tỉnh; Giám đốc Sở Thông tin và Truyền thông; Thủ trưởng các sở, ban, ngành tỉnh; Chủ tịch Ủy ban nhân dân các huyện, thị xã, thành phố và các tổ chức, cá nhân có liên quan chịu trách nhiệm thi hành Quyết định này./.",
	}
}

// letterFODT returns the letter as a flat ODT document. As a template the
// number and the date are left blank after "Số:" and "Bình Phước,", the way
// a document reaches the clerk before it is issued.
func letterFODT(template bool) ([]byte, error) {
	number, date := "Số: 15/QĐ-UBND", "Bình Phước, ngày 05 tháng 01 năm 2026"
	if template {
		number, date = "Số:", "Bình Phước,"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:meta>
  <dc:title>Quyết định ban hành Quy chế văn bản điện tử có ký số</dc:title>
  <meta:initial-creator>Văn phòng UBND tỉnh Bình Phước</meta:initial-creator>
  <dc:language>vi-VN</dc:language>
 </office:meta>
 <office:font-face-decls>
  <style:font-face style:name="Liberation Serif" svg:font-family="'Liberation Serif'" style:font-family-generic="roman" style:font-pitch="variable"/>
 </office:font-face-decls>
 <office:styles>
  <style:default-style style:family="paragraph">
   <style:paragraph-properties fo:margin-top="0cm" fo:margin-bottom="0cm" fo:line-height="115%"/>
   <style:text-properties style:font-name="Liberation Serif" fo:font-size="13pt" fo:language="vi" fo:country="VN"/>
  </style:default-style>
 </office:styles>
 <office:automatic-styles>
  <style:page-layout style:name="A4">
   <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="3cm" fo:margin-right="2cm"/>
  </style:page-layout>
  <style:style style:name="Hdr" style:family="table"><style:table-properties style:width="16cm" table:align="left"/></style:style>
  <style:style style:name="Hdr.A" style:family="table-column"><style:table-column-properties style:column-width="6.5cm"/></style:style>
  <style:style style:name="Hdr.B" style:family="table-column"><style:table-column-properties style:column-width="9.5cm"/></style:style>
  <style:style style:name="C" style:family="paragraph"><style:paragraph-properties fo:text-align="center"/></style:style>
  <style:style style:name="CB" style:family="paragraph"><style:paragraph-properties fo:text-align="center"/><style:text-properties fo:font-weight="bold"/></style:style>
  <style:style style:name="CI" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-top="0.3cm"/><style:text-properties fo:font-style="italic"/></style:style>
  <style:style style:name="Title" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-top="0.8cm"/><style:text-properties fo:font-size="14pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="Head" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-top="0.3cm" fo:margin-bottom="0.3cm"/><style:text-properties fo:font-weight="bold"/></style:style>
  <style:style style:name="Body" style:family="paragraph"><style:paragraph-properties fo:text-align="justify" fo:text-indent="1cm" fo:margin-bottom="0.15cm"/></style:style>
  <style:style style:name="Small" style:family="paragraph"><style:text-properties fo:font-size="11pt"/></style:style>
  <style:style style:name="SmallBI" style:family="paragraph"><style:paragraph-properties fo:margin-top="0.4cm"/><style:text-properties fo:font-size="12pt" fo:font-weight="bold" fo:font-style="italic"/></style:style>
  <style:style style:name="SignTop" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-top="0.4cm"/><style:text-properties fo:font-weight="bold"/></style:style>
  <style:style style:name="SignName" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-top="2.5cm"/><style:text-properties fo:font-weight="bold"/></style:style>
 </office:automatic-styles>
 <office:master-styles><style:master-page style:name="Standard" style:page-layout-name="A4"/></office:master-styles>
 <office:body>
  <office:text>
`)
	para := func(style, s string) error {
		b.WriteString(`   <text:p text:style-name="` + style + `">`)
		if err := xml.EscapeText(&b, []byte(s)); err != nil {
			return fmt.Errorf("escape %q: %w", s, err)
		}
		b.WriteString("</text:p>\n")
		return nil
	}
	type cellPara struct{ style, text string }
	table := func(name string, left, right []cellPara) error {
		b.WriteString(`   <table:table table:name="` + name + `" table:style-name="Hdr"><table:table-column table:style-name="Hdr.A"/><table:table-column table:style-name="Hdr.B"/><table:table-row>` + "\n")
		for _, cell := range [][]cellPara{left, right} {
			b.WriteString(`   <table:table-cell office:value-type="string">` + "\n")
			for _, p := range cell {
				if err := para(p.style, p.text); err != nil {
					return err
				}
			}
			b.WriteString("   </table:table-cell>\n")
		}
		b.WriteString("   </table:table-row></table:table>\n")
		return nil
	}

	if err := table("Header",
		[]cellPara{{"C", "ỦY BAN NHÂN DÂN"}, {"CB", "TỈNH BÌNH PHƯỚC"}, {"C", number}},
		[]cellPara{{"CB", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"}, {"CB", "Độc lập - Tự do - Hạnh phúc"}, {"CI", date}},
	); err != nil {
		return nil, err
	}
	paras := []cellPara{
		{"Title", "QUYẾT ĐỊNH"},
		{"CB", "Về việc ban hành Quy chế tiếp nhận, xử lý văn bản điện tử có ký số"},
		{"Head", "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH BÌNH PHƯỚC"},
		{"Body", "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;"},
		{"Body", "Căn cứ Luật Giao dịch điện tử ngày 22 tháng 6 năm 2023;"},
		{"Body", "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư;"},
		{"Body", "Căn cứ Nghị định số 68/2024/NĐ-CP ngày 25 tháng 6 năm 2024 của Chính phủ quy định về chữ ký số chuyên dùng công vụ;"},
		{"Body", "Theo đề nghị của Chánh Văn phòng Ủy ban nhân dân tỉnh."},
		{"Head", "QUYẾT ĐỊNH:"},
	}
	for _, a := range letterArticles() {
		paras = append(paras, cellPara{"Body", a})
	}
	for _, p := range paras {
		if err := para(p.style, p.text); err != nil {
			return nil, err
		}
	}
	if err := table("Signature",
		[]cellPara{
			{"SmallBI", "Nơi nhận:"},
			{"Small", "- Như Điều 5;"},
			{"Small", "- Văn phòng Chính phủ;"},
			{"Small", "- TT. Tỉnh ủy, TT. HĐND tỉnh;"},
			{"Small", "- CT, các PCT UBND tỉnh;"},
			{"Small", "- Lưu: VT, KGVX."},
		},
		[]cellPara{
			{"SignTop", "TM. ỦY BAN NHÂN DÂN"},
			{"CB", "CHỦ TỊCH"},
			{"SignName", "Nguyễn Văn Ánh"},
		},
	); err != nil {
		return nil, err
	}
	b.WriteString("  </office:text>\n </office:body>\n</office:document>\n")
	return b.Bytes(), nil
}
