/**
 * Documents that carry other files: OLE2 compound files (Office 97-2003, MSI, Outlook .msg,
 * VBA projects, embedded OLE objects), PDF (streams through their filters, object streams,
 * embedded files, JavaScript) and RTF (`\objdata` embedded objects).
 */
export { isOle2, readOle2, msiName } from "./ole2.js";
export { isPdf, readPdf } from "./pdf.js";
export { isRtf, readRtf } from "./rtf.js";
