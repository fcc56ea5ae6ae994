/* The Rich interface's C server (rich.idl), as a Windows programmer writes one: manager routines
 * with MIDL's prototypes, [out] pointees allocated with MIDL_user_allocate (the stubs free them
 * after the reply). Usage: rich_server ENDPOINT (0: an ephemeral port). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include "rich.h"

void *MIDL_user_allocate(size_t n) { return malloc(n); }
void MIDL_user_free(void *p) { free(p); }

static char *dup_a(const char *s)
{
    char *d = MIDL_user_allocate(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static WCHAR *dup_w(const WCHAR *s)
{
    size_t n = 0;
    WCHAR *d;
    while (s[n])
        n++;
    d = MIDL_user_allocate((n + 1) * sizeof(WCHAR));
    memcpy(d, s, (n + 1) * sizeof(WCHAR));
    return d;
}

long SendShape(handle_t h, SHAPE *s, SHAPE *back)
{
    (void)h;
    *back = *s;
    back->a.x += 1;
    return 7;
}

long SendConf(handle_t h, CONF *c, long *sum)
{
    unsigned long i;
    (void)h;
    *sum = 0;
    for (i = 0; i < c->n; i++)
        *sum += c->data[i];
    return (long)c->n;
}

long SendBag(handle_t h, BAG *b, BAG *back)
{
    long *one;
    (void)h;
    *back = *b;
    back->name = b->name ? dup_a(b->name) : NULL;
    back->wname = b->wname ? dup_w(b->wname) : NULL;
    back->points = NULL;
    if (b->points) {
        back->points = MIDL_user_allocate(b->count * sizeof(POINT2));
        memcpy(back->points, b->points, b->count * sizeof(POINT2));
    }
    /* One object behind both full pointers: it goes on the wire once. */
    one = MIDL_user_allocate(sizeof(long));
    *one = (b->full1 ? *b->full1 : 0) + 1;
    back->full1 = one;
    back->full2 = one;
    back->shape = NULL;
    return (b->full1 ? *b->full1 : 0) + (b->full2 ? *b->full2 : 0) + (b->shape ? (long)b->shape->id : 0);
}

long Arrays(handle_t h, unsigned long n, long *a, unsigned long max, unsigned long len, short *cv, long *sum)
{
    unsigned long i;
    (void)h;
    (void)max;
    *sum = 0;
    for (i = 0; i < n; i++)
        *sum += a[i];
    for (i = 0; i < len; i++)
        *sum += cv[i];
    return (long)(n + len);
}

long Unions(handle_t h, long sw, NU *nu, EU *eu, EU *eu_back)
{
    (void)h;
    switch (sw) {
    case 1:
        eu_back->kind = 2;
        eu_back->u.d = nu->l * 1.5;
        break;
    case 2:
        eu_back->kind = 1;
        eu_back->u.l = nu->s ? (long)strlen(nu->s) : -1;
        break;
    case 3:
        eu_back->kind = 1;
        eu_back->u.l = nu->p.x + nu->p.y;
        break;
    default:
        eu_back->kind = 9;
        break;
    }
    return eu->kind == 1 ? eu->u.l : eu->kind == 2 ? (long)eu->u.d : -eu->kind;
}

long Strings(handle_t h, char *s, char **s_back, WCHAR **w_back)
{
    size_t n = strlen(s);
    (void)h;
    *s_back = MIDL_user_allocate(n + 3);
    sprintf(*s_back, "<%s>", s);
    *w_back = dup_w(u"wide back");
    return (long)n;
}

long OpenCtx(handle_t h, long v, PCTX *ctx)
{
    long *p = malloc(sizeof(long));
    (void)h;
    *p = v;
    *ctx = p;
    printf("open %ld %p\n", v, (void *)p);
    fflush(stdout);
    return 0;
}

long UseCtx(handle_t h, PCTX ctx, long *v)
{
    (void)h;
    *v = *(long *)ctx;
    return 1;
}

long CloseCtx(handle_t h, PCTX *ctx)
{
    (void)h;
    printf("close %ld %p\n", *(long *)*ctx, *ctx);
    fflush(stdout);
    free(*ctx);
    *ctx = NULL;
    return 2;
}

/* The client's association ended with the handle open (MIDL's name: PCTX_rundown). */
void PCTX_rundown(PCTX ctx)
{
    printf("rundown %ld %p\n", *(long *)ctx, ctx);
    fflush(stdout);
    free(ctx);
}

long Extras(handle_t h, INT_PTR ip, EXTRA *e, EXTRA *back)
{
    (void)h;
    *back = *e;
    back->sp = e->sp + ip;
    back->up = e->up + 1;
    return (long)strlen(e->tag) + 1;
}

SHAPE RetShape(handle_t h, long x)
{
    SHAPE s;
    (void)h;
    memset(&s, 0, sizeof s);
    s.a.x = x;
    s.b.y = 3;
    s.color = GREEN;
    s.id = -x;
    s.filled = 1;
    return s;
}

POINT2 *RetPoint(handle_t h, long x)
{
    POINT2 *p;
    (void)h;
    if (x == 0)
        return NULL;
    p = MIDL_user_allocate(sizeof *p);
    p->x = x;
    p->y = -1;
    return p;
}

EU RetEu(handle_t h, short kind)
{
    EU e;
    (void)h;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    if (kind == 1)
        e.u.l = 11;
    else if (kind == 2)
        e.u.d = 0.5;
    return e;
}

COLOR RetColor(handle_t h, long i) { (void)h; return i == 0 ? RED : BLUE; }

INT_PTR RetWide(handle_t h, INT_PTR v) { (void)h; return v * 2; }

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (RpcServerUseProtseqEp((RPC_CSTR) "ncacn_ip_tcp", 10, (RPC_CSTR)argv[1], NULL) ||
        RpcServerRegisterIf(Rich_v1_0_s_ifspec, NULL, NULL))
        return 1;
    return RpcServerListen(1, 1234, FALSE) == RPC_S_OK ? 0 : 1;
}
