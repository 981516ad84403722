/*
 * A stand-in for bcryptprimitives.dll, which wine 8.0 (Debian 12) does not have.
 *
 * Rust's standard library gets its random bytes (HashMap seeds) from ProcessPrng in
 * bcryptprimitives.dll; without the DLL every Windows program built by Rust fails to load under
 * that wine (exit status 53). This DLL exports ProcessPrng and forwards it to BCryptGenRandom,
 * which wine has. CI builds it with x86_64-w64-mingw32-gcc -shared and puts it in the wine
 * prefix's system32; it is not needed on Windows or on newer wine.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
