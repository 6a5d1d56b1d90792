/*
 * Vigil's built-in starter rules: test files and a few high-precision generic rules.
 * Written for Vigil from the public descriptions of the test files; nothing from feeds.
 * `clamav_name` is the name clamscan prints for the same file, so tools parsing
 * clamscan-style output keep working. Test strings are written in hex so that this file
 * itself is not detected by any scanner.
 */

rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file (not malware)"
        clamav_name = "Win.Test.EICAR_HDB-1"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $eicar = {
            58 35 4F 21 50 25 40 41 50 5B 34 5C 50 5A 58 35 34 28 50 5E 29 37 43 43
            29 37 7D 24 45 49 43 41 52 2D 53 54 41 4E 44 41 52 44 2D 41 4E 54 49 56
            49 52 55 53 2D 54 45 53 54 2D 46 49 4C 45 21 24 48 2B 48 2A
        }
    condition:
        $eicar at 0 and filesize <= 128
}

rule EICAR_Test_File_UTF16
{
    meta:
        description = "EICAR test string stored as UTF-16LE text"
        clamav_name = "Vigil.Test.EICAR_UTF16"
    strings:
        $eicar = {
            58 00 35 00 4F 00 21 00 50 00 25 00 40 00 41 00 50 00 5B 00 34 00 5C 00
            50 00 5A 00 58 00 35 00 34 00 28 00 50 00 5E 00 29 00 37 00 43 00 43 00
            29 00 37 00 7D 00 24 00 45 00 49 00 43 00 41 00 52 00 2D 00 53 00 54 00
            41 00 4E 00 44 00 41 00 52 00 44 00 2D 00 41 00 4E 00 54 00 49 00 56 00
            49 00 52 00 55 00 53 00 2D 00 54 00 45 00 53 00 54 00 2D 00 46 00 49 00
            4C 00 45 00 21 00 24 00 48 00 2B 00 48 00 2A 00
        }
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
        $gtube = {
            58 4A 53 2A 43 34 4A 44 42 51 41 44 4E 31 2E 4E 53 42 4E 33 2A 32 49 44
            4E 45 4E 2A 47 54 55 42 45 2D 53 54 41 4E 44 41 52 44 2D 41 4E 54 49 2D
            55 42 45 2D 54 45 53 54 2D 45 4D 41 49 4C 2A 43 2E 33 34 58
        }
    condition:
        $gtube
}
