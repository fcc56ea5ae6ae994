/* The Rich interface's C client (rich.idl): calls every operation with the values
 * crates/msrpc-c/tests/c_rich.rs encodes through the Rust stubs, checks the answers (which the C
 * server and the Rust server give alike), prints `ok`/`FAIL` lines and exits with the number of
 * failures. Usage: rich_client PORT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include "rich.h"

void *MIDL_user_allocate(size_t n) { return malloc(n); }
void MIDL_user_free(void *p) { free(p); }

static int failures;

static void check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond)
        failures++;
}

static int wide_eq(const WCHAR *a, const WCHAR *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

int main(int argc, char **argv)
{
    RPC_CSTR sb = NULL;
    handle_t h = NULL;
    long r, sum = 0, v = 0;
    volatile RPC_STATUS code = 0;

    if (argc < 2 || RpcStringBindingCompose(NULL, (RPC_CSTR) "ncacn_ip_tcp", (RPC_CSTR) "127.0.0.1",
                                            (RPC_CSTR)argv[1], NULL, &sb) ||
        RpcBindingFromStringBinding(sb, &h))
        return 100;

    {
        SHAPE s = { { 1, -2 }, { 300000, 7 }, BLUE, -5000000000LL, 1 }, back;
        memset(&back, 0, sizeof back);
        r = SendShape(h, &s, &back);
        check(r == 7 && back.a.x == 2 && back.a.y == -2 && back.b.x == 300000 && back.b.y == 7 &&
                  back.color == BLUE && back.id == -5000000000LL && back.filled == 1,
              "SendShape: nested structures, enum, hyper, boolean");
    }
    {
        CONF *c = malloc(sizeof(CONF) + 3 * sizeof(long));
        c->n = 4;
        c->data[0] = 10;
        c->data[1] = 20;
        c->data[2] = 30;
        c->data[3] = 40;
        r = SendConf(h, c, &sum);
        check(r == 4 && sum == 100, "SendConf: conformant structure");
        free(c);
    }
    {
        long shared = 42;
        POINT2 pts[2] = { { 1, 2 }, { 3, 4 } };
        SHAPE sh = { { 5, 6 }, { 7, 8 }, GREEN, 9, 0 };
        BAG b, back;
        memset(&b, 0, sizeof b);
        memset(&back, 0, sizeof back);
        b.name = "bag";
        b.wname = u"wide";
        b.count = 2;
        b.points = pts;
        b.used = 3;
        b.vary[0] = 5;
        b.vary[1] = 6;
        b.vary[2] = 7;
        b.fixed[0] = 8;
        b.fixed[1] = 9;
        b.fixed[2] = 10;
        b.full1 = &shared;
        b.full2 = &shared;
        b.shape = &sh;
        r = SendBag(h, &b, &back);
        check(r == 93, "SendBag: return value");
        check(back.name && strcmp(back.name, "bag") == 0 && back.wname && wide_eq(back.wname, u"wide"),
              "SendBag: [unique] strings out");
        check(back.count == 2 && back.points && back.points[1].x == 3 && back.points[1].y == 4,
              "SendBag: [size_is] pointer to structures out");
        check(back.used == 3 && back.vary[2] == 7 && back.fixed[2] == 10, "SendBag: varying and fixed arrays out");
        check(back.full1 && back.full1 == back.full2 && *back.full1 == 43, "SendBag: [ptr] aliasing kept");
        check(back.shape == NULL, "SendBag: NULL [unique] out");
        MIDL_user_free(back.name);
        MIDL_user_free(back.wname);
        MIDL_user_free(back.points);
        MIDL_user_free(back.full1);
    }
    {
        long a[3] = { 1, 2, 3 };
        short cv[5] = { 100, 200, 0, 0, 0 };
        r = Arrays(h, 3, a, 5, 2, cv, &sum);
        check(r == 5 && sum == 306, "Arrays: conformant and conformant-varying parameters");
    }
    {
        NU nu;
        EU eu, back;
        eu.kind = 1;
        eu.u.l = 11;
        nu.l = 4;
        memset(&back, 0, sizeof back);
        r = Unions(h, 1, &nu, &eu, &back);
        check(r == 11 && back.kind == 2 && back.u.d == 6.0, "Unions: case 1 in, double arm out");
        nu.s = "four";
        eu.kind = 2;
        eu.u.d = 2.5;
        r = Unions(h, 2, &nu, &eu, &back);
        check(r == 2 && back.kind == 1 && back.u.l == 4, "Unions: [string] arm");
        nu.p.x = 30;
        nu.p.y = 12;
        eu.kind = 7;
        r = Unions(h, 3, &nu, &eu, &back);
        check(r == -7 && back.kind == 1 && back.u.l == 42, "Unions: structure arm, default arm in");
        r = Unions(h, 99, &nu, &eu, &back);
        check(r == -7 && back.kind == 9, "Unions: default arm out");
    }
    {
        char *s_back = NULL;
        WCHAR *w_back = NULL;
        r = Strings(h, "text", &s_back, &w_back);
        check(r == 4 && s_back && strcmp(s_back, "<text>") == 0 && w_back && wide_eq(w_back, u"wide back"),
              "Strings: [out, string] char ** and WCHAR **");
        MIDL_user_free(s_back);
        MIDL_user_free(w_back);
    }
    {
        /* [string] char tag[20] (its characters run to the NUL), __int3264 (4 bytes at NDR20,
         * 8 at NDR64) and unsigned __int3264. */
        EXTRA e, back;
        memset(&e, 0, sizeof e);
        memset(&back, 0, sizeof back);
        strcpy(e.tag, "hello");
        e.sp = -70000;
        e.up = 0x7fffffff;
        memcpy(e.wtag, u"wide", sizeof(u"wide"));
        r = Extras(h, -3, &e, &back);
        check(r == 6 && strcmp(back.tag, "hello") == 0 && back.sp == -70003 &&
                  back.up == 0x80000000u && wide_eq(back.wtag, u"wide"),
              "Extras: fixed [string] arrays, __int3264");
    }
    {
        /* Constructed return values: a structure, a [unique] pointer (allocated with
         * MIDL_user_allocate, NULL), an encapsulated union, an enum, __int3264. */
        SHAPE sh = RetShape(h, 21);
        POINT2 *pp = RetPoint(h, 5);
        EU e = RetEu(h, 2);
        check(sh.a.x == 21 && sh.b.y == 3 && sh.color == GREEN && sh.id == -21 && sh.filled,
              "RetShape: a structure returned");
        check(pp && pp->x == 5 && pp->y == -1, "RetPoint: a pointer returned");
        MIDL_user_free(pp);
        check(RetPoint(h, 0) == NULL, "RetPoint: NULL returned");
        check(e.kind == 2 && e.u.d == 0.5, "RetEu: an encapsulated union returned");
        check(RetColor(h, 1) == BLUE, "RetColor: an enum returned");
        check(RetWide(h, -40000) == -80000, "RetWide: __int3264 returned");
    }
    {
        PCTX ctx = NULL;
        r = OpenCtx(h, 1234, &ctx);
        check(r == 0 && ctx != NULL, "OpenCtx: [out] context handle");
        r = UseCtx(h, ctx, &v);
        check(r == 1 && v == 1234, "UseCtx: [in] context handle");
        r = CloseCtx(h, &ctx);
        check(r == 2 && ctx == NULL, "CloseCtx: [in, out] context handle closed");
        /* A null [in] context handle is refused before anything is sent (1775). */
        code = 0;
        RpcTryExcept
        {
            UseCtx(h, ctx, &v);
        }
        RpcExcept(1)
        {
            code = RpcExceptionCode();
        }
        RpcEndExcept
        check(code == 1775, "UseCtx: a null [in] context handle is RPC_X_SS_IN_NULL_CONTEXT");
    }
    {
        /* A [ref] pointer member left NULL is refused before anything is sent. */
        SHAPE back;
        RpcTryExcept
        {
            SendShape(h, NULL, &back);
        }
        RpcExcept(1)
        {
            code = RpcExceptionCode();
        }
        RpcEndExcept
        check(code == RPC_X_NULL_REF_POINTER, "SendShape(NULL): RPC_X_NULL_REF_POINTER");
    }
    RpcStringFree(&sb);
    RpcBindingFree(&h);
    printf("%d failures\n", failures);
    return failures;
}
