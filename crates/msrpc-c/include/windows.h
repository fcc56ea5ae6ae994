/* windows.h for libmsrpc_c: the subset of the Win32 API that Windows RPC programs and the
 * notification styles of "Making the asynchronous call" use, on Linux.
 *
 * Type sizes follow Windows (LLP64) where the wire or the programmer needs them: DWORD, LONG,
 * ULONG, UINT and BOOL are 32 bits, WCHAR is 16 bits (a UTF-16 code unit), pointers and the
 * *_PTR types are pointer-sized. The C keywords keep the compiler's sizes: on LP64 Linux a plain
 * `long` is 64 bits (see docs/c-abi.md for how the stubs marshal IDL `long`). */
#ifndef MSRPC_C_WINDOWS_H
#define MSRPC_C_WINDOWS_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WINAPI
#define APIENTRY
#define CALLBACK
#define VOID void
#ifndef CONST
#define CONST const
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef unsigned char BYTE;
typedef unsigned char UCHAR;
typedef char CHAR;
typedef unsigned short WORD;
typedef unsigned short USHORT;
typedef short SHORT;
typedef unsigned int DWORD;
typedef int INT;
typedef unsigned int UINT;
typedef int LONG;
typedef unsigned int ULONG;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef int64_t INT64;
typedef uint64_t UINT64;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef size_t SIZE_T;
typedef LONG HRESULT;
typedef unsigned short WCHAR;
typedef CHAR *LPSTR;
typedef const CHAR *LPCSTR;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef DWORD *LPDWORD;
typedef ULONG_PTR *PULONG_PTR;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef struct HWND__ *HWND;
typedef UINT_PTR WPARAM;
typedef LONG_PTR LPARAM;
typedef LONG_PTR LRESULT;

#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)
#define INFINITE 0xFFFFFFFFu
#define WAIT_OBJECT_0 0x00000000u
#define WAIT_ABANDONED 0x00000080u
#define WAIT_IO_COMPLETION 0x000000C0u
#define WAIT_TIMEOUT 0x00000102u
#define WAIT_FAILED 0xFFFFFFFFu
#define MAXIMUM_WAIT_OBJECTS 64

#define ERROR_SUCCESS 0L
#define NO_ERROR 0L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_ALREADY_EXISTS 183L
#define STILL_ACTIVE 259L
#define CREATE_SUSPENDED 0x00000004
#define EVENT_ALL_ACCESS 0x1F0003
#define EVENT_MODIFY_STATE 0x0002
#define SYNCHRONIZE 0x00100000L
#define ERROR_ABANDONED_WAIT_0 735L
#define WAIT_TIMEOUT_ERROR 258L
#define ERROR_IO_PENDING 997L

#define WM_NULL 0x0000
#define WM_QUIT 0x0012
#define WM_USER 0x0400
#define PM_NOREMOVE 0x0000
#define PM_REMOVE 0x0001
#define HWND_MESSAGE ((HWND)(LONG_PTR)-3)

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef struct _OVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    union {
        struct {
            DWORD Offset;
            DWORD OffsetHigh;
        } s;
        PVOID Pointer;
    } u;
    HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED;

typedef struct tagPOINT {
    LONG x;
    LONG y;
} POINT;

typedef struct tagMSG {
    HWND hwnd;
    UINT message;
    WPARAM wParam;
    LPARAM lParam;
    DWORD time;
    POINT pt;
} MSG, *PMSG, *LPMSG;

typedef void (WINAPI *PAPCFUNC)(ULONG_PTR Parameter);

/* Errors: the calling thread's last error, as Win32 keeps it. */
DWORD WINAPI GetLastError(void);
void WINAPI SetLastError(DWORD dwErrCode);

/* Events. A name (at most 260 characters) names the event within this process: CreateEvent of
 * an existing name gives a new handle to it with GetLastError() ERROR_ALREADY_EXISTS; OpenEvent
 * finds it (NULL, ERROR_FILE_NOT_FOUND when none); the name lives while a handle is open. */
HANDLE WINAPI CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCSTR lpName);
HANDLE WINAPI CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCWSTR lpName);
HANDLE WINAPI OpenEventA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
HANDLE WINAPI OpenEventW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);

/* Waits on events and threads (a thread is signaled once it has ended; completion ports are
 * not waitable, as on Windows). WaitForMultipleObjects with bWaitAll = TRUE returns once all
 * are signaled at once, consuming the auto-reset ones (looked at every millisecond). */
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);
DWORD WINAPI SleepEx(DWORD dwMilliseconds, BOOL bAlertable);
void WINAPI Sleep(DWORD dwMilliseconds);

/* Threads and APCs: GetCurrentThread is the pseudo-handle of the calling thread, as on Windows.
 * CreateThread runs the routine on a new thread (with CREATE_SUSPENDED once ResumeThread
 * brings its suspend count to 0); wait for its handle, then GetExitCodeThread gives the
 * routine's return value or ExitThread's code. SuspendThread works on a thread that has not
 * started yet and on the calling thread (another running thread: (DWORD)-1, ERROR_NOT_SUPPORTED).
 * QueueUserAPC queues to the calling thread or a CreateThread thread, run in its next alertable
 * wait. ExitThread works in a CreateThread thread's own code (not the main thread, not inside
 * an APC or notification routine the library calls: the process then ends with a message): it
 * longjmps to the thread's start, in C, and skips RpcFinally blocks as Windows' ExitThread
 * skips __finally. */
HANDLE WINAPI GetCurrentThread(void);
DWORD WINAPI QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData);

typedef DWORD(WINAPI *LPTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef struct _MSRPC_THREAD_FRAME {
    volatile DWORD code;
    jmp_buf jb;
} MSRPC_THREAD_FRAME;
HANDLE WINAPI MsrpcCreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                                LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags,
                                LPDWORD lpThreadId, DWORD(WINAPI *trampoline)(LPTHREAD_START_ROUTINE, LPVOID));
void WINAPI MsrpcThreadEnter(MSRPC_THREAD_FRAME *frame);
MSRPC_THREAD_FRAME *WINAPI MsrpcThreadExitFrame(void);
__attribute__((noreturn)) void WINAPI MsrpcThreadExitUnhandled(DWORD dwExitCode);
BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);

/* The thread's first C frame: ExitThread jumps back here, so the jump crosses only C frames. */
static inline DWORD WINAPI MsrpcThreadTrampoline(LPTHREAD_START_ROUTINE start, LPVOID param)
{
    MSRPC_THREAD_FRAME frame;
    MsrpcThreadEnter(&frame);
    if (setjmp(frame.jb) == 0)
        return start(param);
    return frame.code;
}

static inline HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                                         LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter,
                                         DWORD dwCreationFlags, LPDWORD lpThreadId)
{
    return MsrpcCreateThread(lpThreadAttributes, dwStackSize, lpStartAddress, lpParameter, dwCreationFlags,
                             lpThreadId, MsrpcThreadTrampoline);
}

__attribute__((noreturn)) static inline void WINAPI ExitThread(DWORD dwExitCode)
{
    MSRPC_THREAD_FRAME *frame = MsrpcThreadExitFrame();
    if (frame == NULL)
        MsrpcThreadExitUnhandled(dwExitCode);
    frame->code = dwExitCode;
    longjmp(frame->jb, 1);
}

/* I/O completion ports: FileHandle must be INVALID_HANDLE_VALUE (a port with no file), or an
 * existing port with ExistingCompletionPort to add nothing. */
HANDLE WINAPI CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, ULONG_PTR CompletionKey,
                                     DWORD NumberOfConcurrentThreads);
BOOL WINAPI GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred,
                                      PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped, DWORD dwMilliseconds);
BOOL WINAPI PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred,
                                       ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped);

/* Message-only windows: CreateWindowExA/W with hWndParent = HWND_MESSAGE (class and names are
 * ignored), then PostMessage/GetMessage/PeekMessage on it; DestroyWindow frees it. GetMessage and
 * PeekMessage with hWnd = NULL read the calling thread's message queue and every window it
 * created. */
HWND WINAPI CreateWindowExA(DWORD dwExStyle, LPCSTR lpClassName, LPCSTR lpWindowName, DWORD dwStyle, int X, int Y,
                            int nWidth, int nHeight, HWND hWndParent, void *hMenu, void *hInstance, LPVOID lpParam);
BOOL WINAPI DestroyWindow(HWND hWnd);
BOOL WINAPI PostMessageA(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam);
BOOL WINAPI PostMessageW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam);
BOOL WINAPI GetMessageA(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax);
BOOL WINAPI GetMessageW(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax);
BOOL WINAPI PeekMessageA(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax, UINT wRemoveMsg);
BOOL WINAPI PeekMessageW(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax, UINT wRemoveMsg);

BOOL WINAPI CloseHandle(HANDLE hObject);

/* Thread ids and thread message queues: a thread gets its queue from its first GetMessage,
 * PeekMessage or CreateWindowEx (PeekMessage(&msg, NULL, 0, 0, PM_NOREMOVE) is the idiom), as
 * on Windows; PostThreadMessage to a thread without one fails with ERROR_INVALID_THREAD_ID.
 * GetMessage/PeekMessage with hWnd NULL read it (MSG.hwnd NULL) and the thread's windows.
 * Filter ranges take the oldest message in wMsgFilterMin..wMsgFilterMax (both 0: any) and
 * WM_QUIT always; a queue holds at most 10000 messages (then ERROR_NOT_ENOUGH_QUOTA). */
#define ERROR_NOT_ENOUGH_QUOTA 1816L
#define ERROR_NOT_SUPPORTED 50L
#define ERROR_SIGNAL_REFUSED 156L
#define ERROR_INVALID_THREAD_ID 1444L
#define MAXIMUM_SUSPEND_COUNT 0x7F
DWORD WINAPI GetCurrentThreadId(void);
DWORD WINAPI SuspendThread(HANDLE hThread);
DWORD WINAPI ResumeThread(HANDLE hThread);
BOOL WINAPI PostThreadMessageA(DWORD idThread, UINT Msg, WPARAM wParam, LPARAM lParam);
BOOL WINAPI PostThreadMessageW(DWORD idThread, UINT Msg, WPARAM wParam, LPARAM lParam);
#ifdef UNICODE
#define PostThreadMessage PostThreadMessageW
#else
#define PostThreadMessage PostThreadMessageA
#endif

#ifdef UNICODE
#define CreateEvent CreateEventW
#define OpenEvent OpenEventW
#define PostMessage PostMessageW
#define GetMessage GetMessageW
#define PeekMessage PeekMessageW
#else
#define CreateEvent CreateEventA
#define OpenEvent OpenEventA
#define PostMessage PostMessageA
#define GetMessage GetMessageA
#define PeekMessage PeekMessageA
#endif
#define CreateWindowEx CreateWindowExA

#ifdef __cplusplus
}
#endif

#include <rpc.h>

#endif
