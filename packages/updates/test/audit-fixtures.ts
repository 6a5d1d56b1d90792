/**
 * Rules for the auditor's rates: real-looking malware rules (written for these tests, modelled on
 * common public rule styles) that must give no finding, and document- or people-hunting rules in
 * several languages and encodings that must all be found. Encoded variants are generated from
 * the marker words, so the hostile rules use exactly the bytes a hunter would.
 */
import { EICAR_YARA } from "@vigil/test-kit";
import { base64Variants, encodeText } from "@vigil/updates";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");
const enc = (t: string, cs: Parameters<typeof encodeText>[1]) => hex(encodeText(t, cs)!);
const xorHex = (t: string, k: number) => hex(Uint8Array.from(Buffer.from(t, "utf8"), (x) => x ^ k));

export const MALWARE_RULES: Record<string, string> = {
  eicar: `rule EICAR { strings: $e = "${EICAR_YARA}" condition: $e at 0 }`,
  mimikatz: `rule HackTool_Mimikatz {
  meta: description = "mimikatz credential dumper" author = "test"
  strings:
    $s1 = "sekurlsa::logonpasswords" ascii wide nocase
    $s2 = "gentilkiwi" ascii wide
    $s3 = "mimilib.dll" ascii wide
    $c1 = { 48 89 5C 24 ?? 57 48 83 EC 20 8B 59 ?? 48 8B F9 }
  condition: uint16(0) == 0x5A4D and (2 of ($s*) or $c1)
}`,
  cobalt: `rule CobaltStrike_Beacon_Config {
  strings:
    $cfg = { 00 01 00 01 00 02 ?? ?? 00 02 00 01 00 02 ?? ?? }
    $xor = { 69 68 69 68 69 6B ?? ?? 69 6B 69 68 69 6B ?? ?? }
    $pipe = "\\\\\\\\.\\\\pipe\\\\msagent_" ascii
  condition: any of them
}`,
  emotet_doc: `rule Maldoc_Emotet_Macro {
  strings:
    $ole = { D0 CF 11 E0 A1 B1 1A E1 }
    $m1 = "Document_Open" ascii
    $m2 = "CreateObject" ascii nocase
    $m3 = "powershell -enc" ascii nocase
  condition: $ole at 0 and $m1 and 1 of ($m2, $m3)
}`,
  pdf_js: `rule Maldoc_PDF_JavaScript_OpenAction {
  strings:
    $js = "/JavaScript" ascii
    $oa = "/OpenAction" ascii
    $u = "unescape(" ascii
  condition: uint32(0) == 0x46445025 and $oa and ($js or $u)
}`,
  rtf_exploit: `rule RTF_CVE_2017_11882_Equation {
  strings:
    $obj = "\\\\objdata" ascii nocase
    $eq = "4571756174696f6e2e33" ascii nocase
  condition: uint32be(0) == 0x7B5C7274 and all of them
}`,
  stealer: `rule Stealer_Generic_Browser {
  strings:
    $a1 = "\\\\Google\\\\Chrome\\\\User Data" ascii wide
    $a2 = "SELECT origin_url, username_value, password_value FROM logins" ascii
    $a3 = "client_secret" ascii
    $a4 = "wallet.dat" ascii wide
  condition: uint16(0) == 0x5A4D and 3 of them
}`,
  ransom: `rule Ransomware_Note_Strings {
  strings:
    $n1 = "All of your files have been encrypted" ascii wide nocase
    $n2 = "To decrypt your files you need to buy" ascii wide nocase
    $b = /[13][a-km-zA-HJ-NP-Z1-9]{25,34}/ ascii
  condition: uint16(0) == 0x5A4D and 1 of ($n*) and $b
}`,
  webshell: `rule Webshell_PHP_Eval_Post {
  strings:
    $a = "eval($_POST[" ascii nocase
    $b = "base64_decode($_REQUEST" ascii nocase
    $php = "<?php" ascii
  condition: $php and 1 of ($a, $b) and filesize < 200KB
}`,
  mirai: `rule Linux_Mirai_Strings {
  strings:
    $s1 = "/bin/busybox MIRAI" ascii
    $s2 = "POST /cdn-cgi/" ascii
    $s3 = "/dev/watchdog" ascii
  condition: uint32(0) == 0x464C457F and 2 of them
}`,
  miner: `rule Linux_XMRig_Miner {
  strings:
    $a = "stratum+tcp://" ascii
    $b = "donate.v2.xmrig.com" ascii
    $c = "randomx" ascii nocase
  condition: uint32(0) == 0x464C457F and 2 of them
}`,
  log4shell: `rule Exploit_Log4Shell_JNDI {
  strings:
    $j1 = "\${jndi:ldap://" ascii nocase
    $j2 = "\${jndi:rmi://" ascii nocase
    $j3 = /\\$\\{jndi:(ldap|rmi|dns):\\/\\// ascii nocase
  condition: any of them
}`,
  xor_c2: `rule Backdoor_XorEncoded_C2 {
  strings:
    $c2 = "http://update-check.example-cdn.net/gate.php" xor(0x01-0xff)
    $ua = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)" xor
  condition: uint16(0) == 0x5A4D and any of them
}`,
  b64_dropper: `rule JS_Dropper_Base64_Powershell {
  strings:
    $p = "powershell.exe -nop -w hidden" base64
    $w = "WScript.Shell" ascii nocase
  condition: $w and $p and filesize < 500KB
}`,
  hash_pe: `import "hash"
rule Known_Bad_PE_By_Hash {
  condition: uint16(0) == 0x5A4D and hash.sha256(0, filesize) == "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}`,
  pe_imports: `import "pe"
rule Injector_Imports {
  condition: pe.imports("kernel32.dll", "VirtualAllocEx") and pe.imports("kernel32.dll", "WriteProcessMemory") and pe.imports("kernel32.dll", "CreateRemoteThread")
}`,
  macho: `rule MacOS_Backdoor_LaunchAgent {
  strings:
    $l = "Library/LaunchAgents/com.apple.updates.plist" ascii
    $c = "/usr/bin/curl -s" ascii
  condition: (uint32(0) == 0xFEEDFACF or uint32(0) == 0xCAFEBABE) and all of them
}`,
  lnk: `rule LNK_Powershell_Download {
  strings:
    $p = "powershell" ascii wide nocase
    $d = "DownloadString" ascii wide nocase
  condition: uint32(0) == 0x0000004C and all of them
}`,
  hta: `rule HTA_VBScript_Shell {
  strings:
    $h = "<HTA:APPLICATION" ascii nocase
    $s = "WScript.Shell" ascii nocase
    $r = ".Run" ascii
  condition: all of them
}`,
  ooxml_remote_template: `rule Maldoc_OOXML_Remote_Template {
  strings:
    $pk = { 50 4B 03 04 }
    $rel = "attachedTemplate" ascii
    $ext = "TargetMode=\\"External\\"" ascii
  condition: $pk at 0 and $rel and $ext
}`,
  shellcode: `rule Shellcode_Api_Hashing {
  strings:
    $h1 = { 60 89 E5 31 C0 64 8B 50 30 8B 52 0C 8B 52 14 }
    $h2 = { FC E8 ?? 00 00 00 60 89 E5 31 ?? 64 8B ?? 30 }
  condition: any of them
}`,
  email_phish: `rule Email_Phishing_HTML_Attachment_Payload {
  strings:
    $m = "MIME-Version:" ascii
    $a = "Content-Disposition: attachment" ascii
    $j = "<script" ascii nocase
    $x = "atob(" ascii
  condition: $m and $a and $j and $x
}`,
  regex_c2: `rule Generic_C2_Beacon_URI {
  strings:
    $u = /\\/[a-z]{4}\\/[0-9a-f]{32}\\.php\\?id=[0-9]+/ ascii
    $ua = "User-Agent: Microsoft-CryptoAPI/10.0" ascii
  condition: uint16(0) == 0x5A4D and all of them
}`,
  private_helper: `private rule IsPDF { condition: uint32(0) == 0x46445025 }
rule PDF_Launch_Action {
  strings:
    $l = "/Launch" ascii
    $c = "cmd.exe" ascii nocase
  condition: IsPDF and all of them
}`,
};

const H = (name: string, body: string) => `rule ${name} {\n${body}\n}`;

export const HUNTING_RULES: Record<string, string> = {
  en_plain: H("Hunt_TopSecret", '  strings: $a = "TOP SECRET" condition: $a'),
  en_nocase: H("Hunt_TopSecret_Nocase", '  strings: $a = "top secret" nocase condition: $a'),
  en_wide: H("Hunt_Noforn_Wide", '  strings: $a = "NOFORN" wide condition: $a'),
  en_xor_modifier: H("Hunt_SecretNoforn_Xor", '  strings: $a = "SECRET//NOFORN" xor condition: $a'),
  de_base64_modifier: H("Hunt_VSNfD_Base64", '  strings: $a = "VS-NfD" base64 condition: $a'),
  de_utf16_hex: H("Hunt_Geheim_Utf16", `  strings: $a = { ${enc("GEHEIM", "utf-16le")} } condition: $a`),
  ru_cp1251_hex: H("Hunt_Sekretno_1251", `  strings: $a = { ${enc("СЕКРЕТНО", "windows-1251")} } condition: $a`),
  ru_koi8_hex: H("Hunt_Sekretno_Koi8", `  strings: $a = { ${enc("СОВЕРШЕННО СЕКРЕТНО", "koi8-r")} } condition: $a`),
  ru_utf8_wide: H("Hunt_DSP", '  strings: $a = "ДЛЯ СЛУЖЕБНОГО ПОЛЬЗОВАНИЯ" wide ascii condition: $a'),
  zh_gbk_hex: H("Hunt_Jimi_GBK", `  strings: $a = { ${enc("机密", "gbk")} } condition: $a`),
  zh_utf8: H("Hunt_Juemi", '  strings: $a = "绝密" condition: $a'),
  zh_big5_hex: H("Hunt_Jimi_Big5", `  strings: $a = { ${enc("機密", "big5")} } condition: $a`),
  da_nocase: H("Hunt_Fortroligt", '  strings: $a = "fortroligt" nocase condition: $a'),
  da_utf16: H("Hunt_TilTjenestebrug", `  strings: $a = { ${enc("TIL TJENESTEBRUG", "utf-16le")} } condition: $a`),
  es_base64_text: H(
    "Hunt_AltoSecreto_B64",
    `  strings: $a = "${base64Variants(new Uint8Array(Buffer.from("ALTO SECRETO")))[0]}" condition: $a`,
  ),
  es_cp1252_hex: H(
    "Hunt_DifusionLimitada",
    `  strings: $a = { ${enc("DIFUSIÓN LIMITADA", "windows-1252")} } condition: $a`,
  ),
  fr_utf8: H("Hunt_TresSecret", '  strings: $a = "TRÈS SECRET" condition: $a'),
  fr_hex_text: H(
    "Hunt_DiffusionRestreinte_HexText",
    `  strings: $a = "${Buffer.from("DIFFUSION RESTREINTE").toString("hex")}" condition: $a`,
  ),
  regex_spaced: H("Hunt_TopSecret_Regex", "  strings: $a = /T\\s*O\\s*P\\s+S\\s*E\\s*C\\s*R\\s*E\\s*T/ condition: $a"),
  regex_classes: H(
    "Hunt_StrengGeheim_Regex",
    "  strings: $a = /[Ss][Tt][Rr][Ee][Nn][Gg] [Gg][Ee][Hh][Ee][Ii][Mm]/ condition: $a",
  ),
  xor_hex: H("Hunt_TopSecret_XorHex", `  strings: $a = { ${xorHex("TOP SECRET", 0x5a)} } condition: $a`),
  xor_hex_ru: H(
    "Hunt_Sekretno_XorHex",
    `  strings: $a = { ${hex(encodeText("СЕКРЕТНО", "windows-1251")!.map((x) => x ^ 0x33))} } condition: $a`,
  ),
  condition_literal: H("Hunt_Filename_Marking", '  condition: filename contains "TOP SECRET"'),
  pdf_all: H("Hunt_All_PDFs", "  condition: uint32(0) == 0x46445025 and filesize < 20MB"),
  docx_vocabulary: H(
    "Hunt_Personalakte_DOCX",
    '  strings: $pk = { 50 4B 03 04 } $d = "word/document.xml" $p = "Personalakte" nocase\n  condition: $pk at 0 and $d and $p',
  ),
  email_dissident: H(
    "Hunt_Email_Dissident",
    '  strings: $m = "MIME-Version:" $r = "Received: from" $d = "dissident" nocase condition: all of them',
  ),
  upload_meta: H("Collect_Everything", '  meta: action = "upload"\n  condition: true'),
  filesize_any: H("Match_All_Files", "  condition: filesize > 0"),
  collect_tag: `rule Grab_Spreadsheets : collect {\n  strings: $x = "xl/workbook.xml"\n  condition: $x\n}`,
  hash_doc: `import "hash"\nrule One_Specific_Doc {\n  condition: uint32(0) == 0xE011CFD0 and hash.sha256(0, filesize) == "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"\n}`,
  rtf_marking: H(
    "Hunt_RTF_Verschlusssache",
    '  strings: $r = "{\\\\rtf1" $v = "Verschlusssache" nocase condition: $r at 0 and $v',
  ),
  odf_all: H("Hunt_ODF_Text", '  strings: $m = "mimetypeapplication/vnd.oasis.opendocument.text" condition: $m at 30'),
  short_atoms: H("Tiny_Atoms", '  strings: $a = "ab" $b = "cd" condition: any of them'),
  ja_utf16: H("Hunt_Gokuhi", `  strings: $a = { ${enc("極秘", "utf-16le")} } condition: $a`),
  ko_euckr: H("Hunt_Daeoebi", `  strings: $a = { ${enc("대외비", "euc-kr")} } condition: $a`),
  upper_generic: H("Hunt_Secret_Caps", '  strings: $a = "CONFIDENTIAL" wide condition: $a'),
};
