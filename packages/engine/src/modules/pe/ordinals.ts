/**
 * Names of functions that Windows DLLs export by ordinal only, so that imports by ordinal get a
 * name (and imphash matches other tools, which use the same tables). Unknown ordinals are named
 * "ordN". Only ws2_32.dll / wsock32.dll are tabulated here.
 */
const WS2_32: readonly string[] = [
  "", "accept", "bind", "closesocket", "connect", "getpeername", "getsockname", "getsockopt",
  "htonl", "htons", "ioctlsocket", "inet_addr", "inet_ntoa", "listen", "ntohl", "ntohs", "recv",
  "recvfrom", "select", "send", "sendto", "setsockopt", "shutdown", "socket", "GetAddrInfoW",
  "GetNameInfoW", "WSApSetPostRoutine", "FreeAddrInfoW", "WPUCompleteOverlappedRequest",
  "WSAAccept", "WSAAddressToStringA", "WSAAddressToStringW", "WSACloseEvent", "WSAConnect",
  "WSACreateEvent", "WSADuplicateSocketA", "WSADuplicateSocketW", "WSAEnumNameSpaceProvidersA",
  "WSAEnumNameSpaceProvidersW", "WSAEnumNetworkEvents", "WSAEnumProtocolsA", "WSAEnumProtocolsW",
  "WSAEventSelect", "WSAGetOverlappedResult", "WSAGetQOSByName", "WSAGetServiceClassInfoA",
  "WSAGetServiceClassInfoW", "WSAGetServiceClassNameByClassIdA", "WSAGetServiceClassNameByClassIdW",
  "WSAHtonl", "WSAHtons", "gethostbyaddr", "gethostbyname", "getprotobyname", "getprotobynumber",
  "getservbyname", "getservbyport", "gethostname", "WSAInstallServiceClassA",
  "WSAInstallServiceClassW", "WSAIoctl", "WSAJoinLeaf", "WSALookupServiceBeginA",
  "WSALookupServiceBeginW", "WSALookupServiceEnd", "WSALookupServiceNextA", "WSALookupServiceNextW",
  "WSANSPIoctl", "WSANtohl", "WSANtohs", "WSAProviderConfigChange", "WSARecv", "WSARecvDisconnect",
  "WSARecvFrom", "WSARemoveServiceClass", "WSAResetEvent", "WSASend", "WSASendDisconnect",
  "WSASendTo", "WSASetEvent", "WSASetServiceA", "WSASetServiceW", "WSASocketA", "WSASocketW",
  "WSAStringToAddressA", "WSAStringToAddressW", "WSAWaitForMultipleEvents", "WSCDeinstallProvider",
  "WSCEnableNSProvider", "WSCEnumProtocols", "WSCGetProviderPath", "WSCInstallNameSpace",
  "WSCInstallProvider", "WSCUnInstallNameSpace", "WSCUpdateProvider", "WSCWriteNameSpaceOrder",
  "WSCWriteProviderOrder", "freeaddrinfo", "getaddrinfo", "getnameinfo", "", "WSAAsyncSelect",
  "WSAAsyncGetHostByAddr", "WSAAsyncGetHostByName", "WSAAsyncGetProtoByNumber",
  "WSAAsyncGetProtoByName", "WSAAsyncGetServByPort", "WSAAsyncGetServByName",
  "WSACancelAsyncRequest", "WSASetBlockingHook", "WSAUnhookBlockingHook", "WSAGetLastError",
  "WSASetLastError", "WSACancelBlockingCall", "WSAIsBlocking", "WSAStartup", "WSACleanup",
];

function startsWithIgnoreCase(s: string, prefix: string): boolean {
  return s.length >= prefix.length && s.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

/** The name YARA gives to import `ordinal` of `dll`. */
export function ordinalName(dll: string, ordinal: number): string {
  if (startsWithIgnoreCase(dll, "ws2_32.dll") || startsWithIgnoreCase(dll, "wsock32.dll")) {
    const n = ordinal === 151 ? "__WSAFDIsSet" : ordinal === 500 ? "WEP" : WS2_32[ordinal];
    if (n) return n;
  }
  return `ord${ordinal}`;
}
