/**
 * Rules for the auditor's condition analysis (issue 19), written for these tests.
 *
 * CONDITION_HUNTERS confine themselves to document formats by their condition (magic at 0,
 * `uint32(0)`/`uint32be(0)`/`uint16(0)` comparisons, `$magic at 0`, `for any of ... : ($ at 0)`,
 * the magic module, a private helper rule, a ClamAV-like `in (0..1024)` window) and look for
 * words that are no malware indicator: the vocabulary of a defence or intelligence trade, a
 * person's name in document metadata, an office's name. Each must give a `document-target`
 * finding that says why; `severity` is what the names in its strings make of it.
 *
 * MALDOC_RULES detect malicious documents by exploit structure, macros, embedded payloads or DDE;
 * none may be flagged.
 */
import { encodeText } from "@vigil/updates";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");
const u16 = (t: string) => hex(encodeText(t, "utf-16le")!);

export interface Hunter {
  readonly src: string;
  readonly severity: "medium" | "high";
  /** what the finding's reason or evidence must say */
  readonly says: RegExp;
}

export const CONDITION_HUNTERS: Record<string, Hunter> = {
  ole2_defence_vocabulary: {
    src: `rule Office_Readiness_Reports {
  strings:
    $a = "force posture" ascii wide nocase
    $b = "readiness assessment" ascii wide nocase
    $c = "order of deployment" ascii wide nocase
  condition: uint32(0) == 0xE011CFD0 and any of them
}`,
    severity: "high",
    says: /OLE2.*uint32\(0\) == 0xe011cfd0[\s\S]*defence or intelligence/i,
  },
  pdf_author_metadata: {
    src: `rule PDF_Author_Check {
  strings:
    $magic = "%PDF-"
    $au = "/Author (Anna Kowalska)"
  condition: $magic at 0 and $au
}`,
    severity: "high",
    says: /PDF[\s\S]*\$magic at 0[\s\S]*person/i,
  },
  ooxml_creator_be: {
    src: `rule Docx_Creator {
  strings:
    $c = "<dc:creator>Ivan Petrov</dc:creator>"
  condition: uint32be(0) == 0x504B0304 and $c
}`,
    severity: "high",
    says: /OOXML|ZIP[\s\S]*person/i,
  },
  rtf_office_name: {
    src: `rule Rtf_Directorate {
  strings:
    $o = "Directorate of Operations" nocase
    $p = "Joint Staff" nocase
  condition: uint32be(0) == 0x7B5C7274 and all of them
}`,
    severity: "high",
    says: /RTF[\s\S]*organisation/i,
  },
  odf_german_ministry: {
    src: `rule Odt_Ministerium {
  strings:
    $m = "mimetypeapplication/vnd.oasis.opendocument.text"
    $b = "Bundesministerium der Verteidigung"
  condition: $m at 30 and $b
}`,
    severity: "high",
    says: /ODF[\s\S]*organisation/i,
  },
  ole_uint16_russian_project: {
    src: `rule Ole_Proekt {
  strings:
    $p = { ${hex(encodeText("Проект Сирень", "windows-1251")!)} }
  condition: uint16(0) == 0xCFD0 and $p
}`,
    severity: "high",
    says: /OLE2[\s\S]*project/i,
  },
  for_any_header_chinese_ministry: {
    src: `rule Header_Guofangbu {
  strings:
    $h1 = { D0 CF 11 E0 A1 B1 1A E1 }
    $h2 = { 25 50 44 46 }
    $n = { ${hex(encodeText("国防部办公厅", "gbk")!)} }
  condition: for any of ($h*) : ($ at 0) and $n
}`,
    severity: "high",
    says: /OLE2[\s\S]*PDF|PDF[\s\S]*OLE2/,
  },
  magic_module_project: {
    src: `import "magic"
rule Pdf_Nightfall {
  strings:
    $p = "Project NIGHTFALL" nocase
  condition: magic.mime_type() == "application/pdf" and $p
}`,
    severity: "high",
    says: /magic\.mime_type\(\)[\s\S]*project/i,
  },
  private_helper_name_utf16: {
    src: `private rule IsOfficeDoc { condition: uint32(0) == 0xE011CFD0 or uint32(0) == 0x04034B50 }
rule Lastsaved_By {
  strings:
    $n = { ${u16("Hans Gruber")} }
  condition: IsOfficeDoc and $n
}`,
    severity: "high",
    says: /via rule IsOfficeDoc[\s\S]*person/i,
  },
  pdf_window_gov_mail: {
    src: `rule Pdf_Agency_Mail {
  strings:
    $magic = { 25 50 44 46 }
    $m = "@mod.gov.example" nocase
  condition: $magic in (0..1024) and $m
}`,
    severity: "high",
    says: /PDF[\s\S]*government or military/i,
  },
  ooxml_member_plain: {
    src: `rule Spreadsheet_Budget {
  strings:
    $wb = "xl/workbook.xml"
    $t = "quarterly budget review"
  condition: all of them
}`,
    severity: "medium",
    says: /OOXML[\s\S]*xl\/workbook\.xml/,
  },
  ooxml_cjk_creator: {
    src: `rule Docx_Creator_Zh {
  strings:
    $c = { ${hex(encodeText("<dc:creator>王伟</dc:creator>", "utf-8")!)} }
  condition: uint32(0) == 0x04034B50 and $c
}`,
    severity: "high",
    says: /person in the <dc:creator> metadata field \("王伟"/,
  },
  any_of_at_zero_classification: {
    src: `rule Any_Magic_Marking {
  strings:
    $m1 = "%PDF"
    $m2 = { 7B 5C 72 74 66 }
    $s = "Секретно" wide
  condition: any of ($m*) at 0 and $s
}`,
    severity: "high",
    says: /PDF|RTF/,
  },
};

export const MALDOC_RULES: Record<string, string> = {
  ole_autoopen_shell: `rule Maldoc_AutoOpen_Shell {
  strings:
    $a = "AutoOpen" ascii
    $b = "Shell" ascii
  condition: uint32(0) == 0xE011CFD0 and all of them
}`,
  ole_document_open_createobject: `rule Maldoc_DocumentOpen_CreateObject {
  strings:
    $a = "Document_Open" ascii wide
    $b = "CreateObject" ascii wide nocase
  condition: uint32be(0) == 0xD0CF11E0 and all of them
}`,
  ooxml_vba_project: `rule Maldoc_OOXML_VbaProject {
  strings:
    $pk = { 50 4B 03 04 }
    $v = "vbaProject.bin" ascii
  condition: $pk at 0 and $v
}`,
  ole_embedded_mz: `rule Maldoc_OLE_Embedded_PE {
  strings:
    $mz = { 4D 5A 90 00 03 00 00 00 04 00 00 00 FF FF }
  condition: uint32(0) == 0xE011CFD0 and $mz
}`,
  ole_embedded_dos_stub: `rule Maldoc_OLE_Embedded_Dos_Stub {
  strings:
    $d = "This program cannot be run in DOS mode"
  condition: uint16(0) == 0xCFD0 and $d
}`,
  rtf_equation_editor_mtef: `rule Maldoc_RTF_CVE_2017_11882_MTEF {
  strings:
    $mtef = { 1C 00 00 00 02 00 9E C4 A9 00 00 00 00 00 00 00 C8 A7 5C 00 C4 EE 5B 00 00 00 00 00 03 01 01 03 0A }
  condition: uint32be(0) == 0x7B5C7274 and $mtef
}`,
  rtf_equation_hex_text: `rule Maldoc_RTF_Equation_Object {
  strings:
    $eq = "4571756174696F6E2E33" nocase
    $o = "\\\\objdata" nocase
  condition: uint32be(0) == 0x7B5C7274 and all of them
}`,
  ooxml_dde: `rule Maldoc_OOXML_DDEAUTO {
  strings:
    $pk = "PK\\x03\\x04"
    $d = "DDEAUTO" nocase
  condition: $pk at 0 and $d
}`,
  ooxml_dde_instrtext: `rule Maldoc_OOXML_DDE_Field {
  strings:
    $i = /<w:instrText[^>]*>\\s*DDE\\s/ nocase
  condition: uint32(0) == 0x04034B50 and $i
}`,
  pdf_exploit_structure: `rule Maldoc_PDF_JBIG2_Exploit {
  strings:
    $j = "/JBIG2Decode"
    $o = "/OpenAction"
  condition: uint32(0) == 0x46445025 and $j and $o
}`,
  pdf_embedded_exe_b64: `rule Maldoc_PDF_Embedded_PE_Base64 {
  strings:
    $b = "TVqQAAMAAAAEAAAA"
  condition: $b and uint32(0) == 0x46445025
}`,
  ole_shellcode_pattern: `rule Maldoc_OLE_Shellcode {
  strings:
    $sc = { 55 8B EC 83 EC ?? 53 56 57 E8 ?? ?? ?? ?? }
  condition: uint32(0) == 0xE011CFD0 and $sc
}`,
  xls_xlm_macro: `rule Maldoc_XLS_XLM_Exec {
  strings:
    $e = "EXEC(" nocase
    $a = "Auto_Open" nocase
  condition: uint32(0) == 0xE011CFD0 and all of them
}`,
  rtf_ole_package: `rule Maldoc_RTF_Package_Object {
  strings:
    $p = "5061636b616765" nocase
    $obj = "\\\\object" nocase
  condition: uint32be(0) == 0x7B5C7274 and all of them
}`,
  ooxml_remote_template_url: `rule Maldoc_OOXML_Template_Injection {
  strings:
    $t = /Target="https?:\\/\\/[^"]+\\.dotm"/
  condition: uint16(0) == 0x4B50 and $t
}`,
  clsid_exploit_structure: `rule Maldoc_OLE_Clsid_Structure {
  strings:
    $clsid = { 02 CE 02 00 00 00 00 00 C0 00 00 00 00 00 00 46 }
  condition: uint32(0) == 0xE011CFD0 and $clsid
}`,
};
