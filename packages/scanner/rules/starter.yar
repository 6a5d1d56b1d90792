/*
 * Vigil's built-in starter rules: test files and a few high-precision generic rules.
 * Written for Vigil from the public descriptions of the test files; nothing from feeds.
 * `clamav_name` is the name clamscan prints for the same file, so tools parsing
 * clamscan-style output keep working.
 */

rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file (not malware)"
        clamav_name = "Win.Test.EICAR_HDB-1"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize <= 128
}

rule EICAR_Test_File_UTF16
{
    meta:
        description = "EICAR test string stored as UTF-16LE text"
        clamav_name = "Vigil.Test.EICAR_UTF16"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*" wide
    condition:
        ($eicar at 0 or $eicar at 2) and filesize <= 260
}

rule ClamAV_Test_File
{
    meta:
        description = "ClamAV's harmless test program clam.exe (the clamav-testfiles family)"
        clamav_name = "Clamav.Test.File-6"
    strings:
        $msgbox = "CLAMessageBoxA"
        $marker = "[CLAMAV]"
        $cab = "aCaB"
    condition:
        uint16(0) == 0x5A4D and $msgbox and $marker and $cab and filesize < 4096
}

rule GTUBE_Test_Message
{
    meta:
        description = "GTUBE: the Generic Test for Unsolicited Bulk Email (a test string, not malware)"
        clamav_name = "Vigil.Test.GTUBE"
    strings:
        $gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    condition:
        $gtube
}
