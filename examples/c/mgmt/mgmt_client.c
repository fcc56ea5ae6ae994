/* A C client of the DCE mgmt interface (crates/msrpc/idl/mgmt.idl, C stubs from
 * `msrpc idl --lang c`): inq_if_ids, inq_princ_name, is_server_listening and inq_stats against
 * any DCE/RPC server (samba-dcerpcd, msrpc). Prints `ok`/`FAIL` lines and exits with the number of
 * failures. Usage: mgmt_client HOST PORT [samba].
 *
 * samba-dcerpcd's mgmt differs from MS-RPCE's (its IDL has a second [in] in inq_stats and another
 * reply layout; it does not serve inq_princ_name): with `samba`, those two calls are checked to fail
 * cleanly with the status the stubs raise (1783 for the reply they cannot decode, 1745 for the
 * fault), never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include "mgmt.h"

void *MIDL_user_allocate(size_t n) { return malloc(n); }
void MIDL_user_free(void *p) { free(p); }

static int failures;

static void check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond)
        failures++;
}

int main(int argc, char **argv)
{
    RPC_CSTR sb = NULL;
    handle_t h = NULL;
    error_status_t st = 1;
    rpc_if_id_vector_p_t v = NULL;
    unsigned32 count = 4, stats[4] = { 0 }, i;
    char princ[256];
    boolean32 listening;
    volatile RPC_STATUS code = 0;
    int samba = argc > 3 && strcmp(argv[3], "samba") == 0;

    if (argc < 3 || RpcStringBindingCompose(NULL, (RPC_CSTR) "ncacn_ip_tcp", (RPC_CSTR)argv[1], (RPC_CSTR)argv[2],
                                            NULL, &sb) ||
        RpcBindingFromStringBinding(sb, &h))
        return 100;

    rpc_mgmt_inq_if_ids(h, &v, &st);
    check(st == 0 && v != NULL && v->count > 0, "inq_if_ids: status 0, some interfaces");
    if (v) {
        for (i = 0; i < v->count; i++) {
            rpc_if_id_t *id = v->if_id[i];
            if (id) {
                printf("  interface %08lx-%04x-%04x v%u.%u\n", (unsigned long)id->uuid.Data1, id->uuid.Data2,
                       id->uuid.Data3, id->vers_major, id->vers_minor);
                MIDL_user_free(id);
            }
        }
        MIDL_user_free(v);
    }

    listening = rpc_mgmt_is_server_listening(h, &st);
    check(st == 0 && listening, "is_server_listening: TRUE, status 0");

    code = 0;
    RpcTryExcept
    {
        rpc_mgmt_inq_stats(h, &count, stats, &st);
    }
    RpcExcept(1)
    {
        code = RpcExceptionCode();
    }
    RpcEndExcept
    if (samba) {
        check(code == RPC_X_BAD_STUB_DATA, "inq_stats: samba's other reply layout is refused with 1783");
    } else {
        check(code == 0 && st == 0 && count == 4, "inq_stats: status 0, four counters");
        printf("  stats: calls in %lu, calls out %lu, pkts in %lu, pkts out %lu\n", (unsigned long)stats[0],
               (unsigned long)stats[1], (unsigned long)stats[2], (unsigned long)stats[3]);
    }

    memset(princ, 'x', sizeof princ);
    princ[0] = 0;
    st = 1;
    code = 0;
    RpcTryExcept
    {
        rpc_mgmt_inq_princ_name(h, 9, sizeof princ, princ, &st);
    }
    RpcExcept(1)
    {
        code = RpcExceptionCode();
    }
    RpcEndExcept
    if (samba) {
        check(code == RPC_S_PROCNUM_OUT_OF_RANGE, "inq_princ_name: samba faults it (1745)");
    } else {
        /* Unauthenticated, a server may have no name for SPNEGO: its status says so. */
        check(code == 0 && st != 1 && memchr(princ, 0, sizeof princ) != NULL,
              "inq_princ_name: answered, a NUL-terminated name");
        printf("  princ_name status %lu, name \"%s\"\n", (unsigned long)st, princ);
    }

    RpcStringFree(&sb);
    RpcBindingFree(&h);
    printf("%d failures\n", failures);
    return failures;
}
