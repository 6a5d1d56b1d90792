/**
 * The auditor over the public feeds in ../shared/corpora (read in place, never copied): every
 * finding is compared with the list below, each of which is explained in the package README
 * ("The auditor on the public feeds"). A new finding is either a new false finding to fix or a
 * true one to explain; a finding that disappears is a change to explain too.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { corpus, needs } from "@vigil/test-kit";
import { CLAMAV_DATABASE, auditBundleFile } from "@vigil/updates";

function files(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
}

/** Findings of one feed as `file:line rule code severity`, in file order. */
function auditFeed(name: string): string[] {
  const root = corpus(name);
  const yara = name.startsWith("yara/");
  return files(root)
    .filter((p) => (yara ? /\.(yar|yara)$/i.test(p) : CLAMAV_DATABASE.test(p)))
    .flatMap((p) =>
      auditBundleFile(relative(root, p), readFileSync(p)).map(
        (f) => `${f.file}:${f.line} ${f.rule} ${f.code} ${f.severity}`,
      ),
    );
}

const EXPECTED: Record<string, string[]> = {
  "yara/yara-rules": [
    "crypto/crypto_signatures.yar:4 Big_Numbers0 short-atoms medium",
    "crypto/crypto_signatures.yar:16 Big_Numbers1 short-atoms medium",
    "crypto/crypto_signatures.yar:28 Big_Numbers2 short-atoms medium",
    "crypto/crypto_signatures.yar:40 Big_Numbers3 short-atoms medium",
    "crypto/crypto_signatures.yar:52 Big_Numbers4 short-atoms medium",
    "crypto/crypto_signatures.yar:64 Big_Numbers5 short-atoms medium",
    "maldocs/Maldoc_APT10_MenuPass.yar:13 Maldoc_APT10_MenuPass single-file-target medium",
    "maldocs/Maldoc_PDF.yar:6 malicious_author document-target medium",
    "maldocs/Maldoc_PDF.yar:23 suspicious_version document-target medium",
    "maldocs/Maldoc_PDF.yar:37 suspicious_creation document-target medium",
    "maldocs/Maldoc_PDF.yar:54 multiple_filtering document-target medium",
    "maldocs/Maldoc_PDF.yar:70 suspicious_title document-target medium",
    "maldocs/Maldoc_PDF.yar:88 suspicious_author document-target medium",
    "maldocs/Maldoc_PDF.yar:107 suspicious_producer document-target medium",
    "maldocs/Maldoc_PDF.yar:124 suspicious_creator document-target medium",
    "maldocs/Maldoc_PDF.yar:167 shellcode_blob_metadata document-target medium",
    "maldocs/Maldoc_PDF.yar:250 suspicious_obfuscation document-target medium",
    "maldocs/Maldoc_PDF.yar:285 invalid_trailer_structure document-target medium",
    "maldocs/Maldoc_PDF.yar:302 multiple_versions document-target medium",
    "maldocs/Maldoc_PDF.yar:355 FlateDecode_wrong_version document-target medium",
    "maldocs/Maldoc_PDF.yar:391 invalid_xref_numbers document-target medium",
    "maldocs/Maldoc_PDF.yar:428 header_evasion document-target high",
    "maldocs/Maldoc_PDF.yar:443 BlackHole_v2 document-target medium",
    "maldocs/maldoc_somerules.yar:48 maldoc_indirect_function_call_1 short-atoms medium",
    "maldocs/maldoc_somerules.yar:58 maldoc_indirect_function_call_2 short-atoms medium",
    "maldocs/maldoc_somerules.yar:68 maldoc_indirect_function_call_3 short-atoms medium",
    "maldocs/maldoc_somerules.yar:89 maldoc_find_kernel32_base_method_2 short-atoms medium",
    "maldocs/maldoc_somerules.yar:266 RTF_Shellcode document-target medium",
    "malware/APT_CrashOverride.yar:53 dragos_crashoverride_hashes single-file-target medium",
    "malware/APT_Grasshopper.yar:12 Control32 single-file-target medium",
    "malware/APT_Grasshopper.yar:19 Control64 single-file-target medium",
    "malware/APT_Grasshopper.yar:26 GH_PM32 single-file-target medium",
    "malware/APT_Grasshopper.yar:33 GH_PM64 single-file-target medium",
    "malware/APT_Grasshopper.yar:40 MemStub32_GH1 single-file-target medium",
    "malware/APT_Grasshopper.yar:47 MemStub32 single-file-target medium",
    "malware/APT_Grasshopper.yar:54 MemStub64_GH1 single-file-target medium",
    "malware/APT_Grasshopper.yar:61 MemStub64 single-file-target medium",
    "malware/APT_Grasshopper.yar:68 msvcrt_Win7AMD64 single-file-target medium",
    "malware/APT_Grasshopper.yar:75 msvcrt_Win7x86 single-file-target medium",
    "malware/APT_Grasshopper.yar:82 msvcrt_WIN8AMD64 single-file-target medium",
    "malware/APT_Grasshopper.yar:89 msvcrt_WIN8x86 single-file-target medium",
    "malware/APT_Grasshopper.yar:96 msvcrt_WinXPx86 single-file-target medium",
    "malware/APT_Grasshopper.yar:103 Network_Win7AMD64 single-file-target medium",
    "malware/APT_Grasshopper.yar:110 Network_Win7x86 single-file-target medium",
    "malware/APT_Grasshopper.yar:117 Network_WinXPx86 single-file-target medium",
    "malware/APT_Grasshopper.yar:124 RabbitStew32 single-file-target medium",
    "malware/APT_Grasshopper.yar:131 RabbitStew64 single-file-target medium",
    "malware/APT_Grasshopper.yar:138 Vbr single-file-target medium",
    "malware/APT_NGO.yar:30 APT_NGO_wuaclt_PDF document-target medium",
    "malware/APT_Poseidon_Group.yar:72 PoseidonGroup_MalDoc_2 document-target medium",
    "malware/APT_Uppercut.yar:3 APT_Uppercut single-file-target medium",
    "malware/APT_Waterbug.yar:8 WaterBug_wipbot_2013_core_PDF document-target medium",
    "malware/MALW_Bangat.yar:6 BangatCode short-atoms medium",
    "malware/MALW_Boouset.yar:8 BoousetCode short-atoms medium",
    "malware/MALW_Favorite.yar:8 FavoriteCode short-atoms medium",
    "malware/MALW_Hajime.yar:26 Hajime_MIPS single-file-target medium",
    "malware/MALW_Hajime.yar:49 Hajime_ARM5 single-file-target medium",
    "malware/MALW_Hajime.yar:72 Hajime_SH4 single-file-target medium",
    "malware/MALW_Hajime.yar:95 Hajime_DOWNLOADER single-file-target medium",
    "malware/MALW_LURK0.yar:8 LURK0Header short-atoms medium",
    "malware/MALW_LURK0.yar:21 CCTV0Header short-atoms medium",
    "malware/MALW_Mirai.yar:27 Mirai_MIPS_LSB single-file-target medium",
    "malware/MALW_Mirai.yar:50 Mirai_MIPS_MSB single-file-target medium",
    "malware/MALW_Mirai.yar:74 Mirai_ARM_LSB single-file-target medium",
    "malware/MALW_Mirai.yar:98 Mirai_Renesas_SH single-file-target medium",
    "malware/MALW_Mirai.yar:121 Mirai_PPC_Cisco single-file-target medium",
    "malware/MALW_Mirai.yar:145 Mirai_SPARC_MSB single-file-target medium",
    "malware/MALW_Miscelanea.yar:8 tran_duy_linh document-target high",
    "malware/MALW_Miscelanea.yar:179 rtf_yahoo_ken document-target medium",
    "malware/MALW_Ponmocup.yar:5 Ponmocup short-atoms medium",
    "malware/RAT_CrossRAT.yar:3 CrossRAT single-file-target medium",
    "malware/RAT_Xtreme.yar:47 XtremeRATCode short-atoms medium",
    "packers/packer.yar:6761 PuNkMoD1xPuNkDuDe short-atoms medium",
    "packers/packer.yar:8922 Crunch5Fusion4 short-atoms medium",
    "packers/packer.yar:9867 AsCryptv01SToRM1 short-atoms medium",
    "packers/packer.yar:12411 MoleBoxv20 short-atoms medium",
    "packers/packer.yar:13347 MEW10byNorthfox short-atoms medium",
    "packers/peid.yar:669 MASMTASM_sig4_h short-atoms medium",
    "packers/peid.yar:3867 Possibly_PCX_graphics_format short-atoms medium",
    "packers/peid.yar:4663 ICE_Archive short-atoms medium",
    "packers/peid.yar:17982 AsCrypt_v01_SToRM short-atoms medium",
    "packers/peid.yar:20043 UPolyX_03_by_delikon short-atoms medium",
    "packers/peid.yar:20873 AutoDesk_Animation_file short-atoms medium",
    "packers/peid.yar:22922 ASProtect_v11_BRS short-atoms medium",
    "packers/peid.yar:25376 Alias_PIXVivid_IMG_Graphics_format short-atoms medium",
    "packers/peid.yar:26812 MESS_v120 short-atoms medium",
    "packers/peid.yar:27523 FSG_v110_Eng_dulekxt_Borland_Delphi_40_50 short-atoms medium",
    "packers/peid.yar:32842 FSG_v110_Eng_dulekxt_Microsoft_Visual_Cpp_70 short-atoms medium",
    "packers/peid.yar:40973 Stelth_PE_101_BGCorp short-atoms medium",
    "packers/peid.yar:47286 First_Publisher_Graphics_format short-atoms medium",
    "packers/peid.yar:47571 LHA_Archive short-atoms medium",
    "packers/peid.yar:50302 Petite_v22_wwwun4seencompetite short-atoms medium",
    "packers/peid.yar:50393 MPEG_Layer_IIIII_music_file short-atoms medium",
    "packers/peid.yar:51426 Free_Pascal_v106 short-atoms medium",
    "packers/peid.yar:52613 Pe123_v200644_412 short-atoms medium",
    "packers/peid.yar:58195 FSG_v110_Eng_dulekxt_Microsoft_Visual_C_Basic_NET short-atoms medium",
    "packers/peid.yar:61365 MEW_11_SE_v11_Northfox_HCC short-atoms medium",
    "packers/peid.yar:63245 May_be_Pklite_Header_Version_v6v2_extra_0_v5 short-atoms medium",
    "packers/peid.yar:65135 Obsidium_v10059_Final short-atoms medium",
    "packers/peid.yar:65154 UPX_wwwupxsourceforgenet short-atoms medium",
    "packers/peid.yar:65757 Hyper_Archive short-atoms medium",
    "utils/magic.yar:6 maldoc_OLE_file_magic_number document-target high",
  ],
  "yara/bartblaze": [
    "rules/generic/Generic_Phishing_PDF.yar:1 Generic_Phishing_PDF document-target medium",
    "rules/generic/IEuser_author_doc.yar:1 IEuser_author_doc document-target medium",
  ],
  "clamav/rfxn": [],
  "clamav/freshclam": [],
};

describe("the auditor on the public feeds", () => {
  for (const [feed, expected] of Object.entries(EXPECTED)) {
    const why = needs(`the auditor on ${feed}`, { corpora: [feed] });
    it.skipIf(why)(
      `${feed}: exactly the findings explained in the README`,
      () => {
        expect(auditFeed(feed)).toEqual(expected);
      },
      300_000,
    );
  }
});
