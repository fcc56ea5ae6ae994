//! Function-like `#define`s in the preprocessor, as MIDL's C preprocessor expands them
//! (MS-DHCPM's `#define ELEMENT_MASK(E) ...` in `switch_is`): argument substitution, commas
//! and parentheses inside arguments, invocations over several lines, the recursion guard,
//! `#undef`, and the errors for what is not supported and for the expansion limits.

fn compile(idl: &str) -> Result<String, msrpc_idl::Diagnostics> {
    msrpc_idl::Builder::new().generate_from_str("t.idl", idl, None)
}

#[track_caller]
fn ok(idl: &str) -> String {
    match compile(idl) {
        Ok(code) => code,
        Err(d) => panic!("does not compile:\n{d}"),
    }
}

/// Expects one error at `line:col` whose message contains `msg`.
#[track_caller]
fn err(idl: &str, line: usize, col: usize, msg: &str) {
    let d = compile(idl).expect_err("should not compile");
    let e = d.iter().next().expect("one error");
    assert_eq!((e.line(), e.column()), (line, col), "{d}");
    assert!(e.message().contains(msg), "{:?} lacks {msg:?}", e.message());
}

#[test]
fn arguments_replace_parameters() {
    let code = ok("#define ADD(a, b) ((a) + (b))\nconst long A = ADD(1, 2);\n\
         #define SQ(x) ((x) * (x))\nconst long B = SQ(ADD(1, 2));\n");
    assert!(code.contains("pub const A: i32 = 3i32;"), "{code}");
    assert!(code.contains("pub const B: i32 = 9i32;"), "{code}");
}

#[test]
fn commas_inside_parentheses_belong_to_the_argument() {
    // `(1, 2)` is one argument: PICK gets two, and drops the first.
    let code = ok("#define PICK(a, b) b\nconst long A = PICK((1, 2), 7);\n\
         #define ADD(a, b) ((a) + (b))\nconst long B = PICK(ADD(1, 2), ADD(3, 4));\n");
    assert!(code.contains("pub const A: i32 = 7i32;"), "{code}");
    assert!(code.contains("pub const B: i32 = 7i32;"), "{code}");
}

#[test]
fn an_invocation_may_span_lines_and_take_no_arguments() {
    let code = ok(
        "#define ADD(a, b) ((a) + (b))\nconst long A = ADD(\n  1,\n  2\n);\n\
         #define FIVE() 5\nconst long B = FIVE();\nconst long C = FIVE( );\n",
    );
    assert!(code.contains("pub const A: i32 = 3i32;"), "{code}");
    assert!(code.contains("pub const B: i32 = 5i32;"), "{code}");
    assert!(code.contains("pub const C: i32 = 5i32;"), "{code}");
}

#[test]
fn a_name_without_parentheses_is_not_an_invocation() {
    // C99 6.10.3p10: `F` alone stays `F` (here a constant of that name).
    let code = ok("#define F(x) 9\nconst long F = 3;\nconst long G = F;\nconst long H = F(0);\n");
    assert!(code.contains("pub const F: i32 = 3i32;"), "{code}");
    assert!(code.contains("pub const G: i32 = 3i32;"), "{code}");
    assert!(code.contains("pub const H: i32 = 9i32;"), "{code}");
}

#[test]
fn a_macro_is_not_expanded_inside_its_own_expansion() {
    // N(1) is `(1 + N)` with the inner N left alone; in #if an unknown name is 0.
    let code = ok("#define N(x) (x + N)\n#if N(1) == 1\nconst long GUARDED = 1;\n#endif\n");
    assert!(code.contains("GUARDED"), "{code}");
    // Mutual recursion stops too: A(1) -> B(1) -> A(1), that A left as it is (so the constant
    // is `A (1)`, which does not parse), not a loop or the nesting limit.
    err(
        "#define A(x) B(x)\n#define B(x) A(x)\nconst long C = A(1);\n",
        3,
        16,
        "expected `;`, found `(`",
    );
    // An argument may name the macro itself: F(F(1)) expands both.
    let code = ok("#define F(x) ((x) + 1)\nconst long A = F(F(1));\n");
    assert!(code.contains("pub const A: i32 = 3i32;"), "{code}");
}

#[test]
fn undef_and_redefine() {
    let code = ok(
        "#define F(x) 1\nconst long A = F(0);\n#undef F\n#define F(x) (x + 2)\n\
         const long B = F(0);\n#undef F\n#ifdef F\nconst long C = 1;\n#endif\n",
    );
    assert!(code.contains("pub const A: i32 = 1i32;"), "{code}");
    assert!(code.contains("pub const B: i32 = 2i32;"), "{code}");
    assert!(!code.contains("pub const C"), "{code}");
}

#[test]
fn object_like_macros_expand_into_invocations() {
    // The object-like macro's replacement is rescanned with what follows it.
    let code = ok(
        "#define ADD(a, b) ((a) + (b))\n#define PLUS ADD\nconst long A = PLUS(2, 3);\n\
         #define TWO 2\nconst long B = ADD(TWO, TWO);\n",
    );
    assert!(code.contains("pub const A: i32 = 5i32;"), "{code}");
    assert!(code.contains("pub const B: i32 = 4i32;"), "{code}");
}

#[test]
fn a_masked_switch_is_as_in_ms_dhcpm() {
    let idl = "[uuid(12345678-1234-abcd-ef00-0123456789ab), version(1.0), pointer_default(unique)]\n\
        interface T {\n\
        typedef enum _K { KA, KB, KC, KD } K;\n\
        #define MASK(E) ((((E) <= KC) \\\n&& (KB <= (E)))?(0):(E))\n\
        typedef [switch_type(K)] union _U { [case(KA)] long a; [case(KD)] short d; } U;\n\
        typedef struct _S { K ElementType; [switch_is(MASK(ElementType))] U u; } S;\n\
        void F([in] S s);\n}\n";
    let code = ok(idl);
    // The discriminant is the masked field (KB..=KC become KA), not the field itself.
    assert!(code.contains("<= (2i64)"), "{code}");
    assert!(code.contains("(1i64) <="), "{code}");
}

#[test]
fn unsupported_forms_and_misuse_are_errors() {
    err(
        "#define S(x) #x\n",
        1,
        14,
        "`#` (stringize) and `##` (token paste)",
    );
    err(
        "#define P(a, b) a ## b\n",
        1,
        19,
        "`#` (stringize) and `##` (token paste)",
    );
    err("#define V(...) 1\n", 1, 11, "variadic macros");
    err(
        "#define D(a, a) 1\n",
        1,
        14,
        "macro parameter `a` appears twice",
    );
    err("#define E(a b) 1\n", 1, 13, "expected `,` or `)`");
    err(
        "#define F(a, b) a\nconst long A = F(1);\n",
        2,
        16,
        "macro `F` takes 2 arguments, given 1",
    );
    err(
        "#define G(a) a\nconst long A = G(1, 2);\n",
        2,
        16,
        "macro `G` takes 1 argument, given 2",
    );
    err(
        "#define H(a) a\nconst long A = H(1;\n",
        2,
        16,
        "the arguments of macro `H` are not closed",
    );
    err(
        "#define I(a) a\nconst long A = I(1,\n#include \"x.h\"\n2);\n",
        3,
        1,
        "#include inside the arguments",
    );
}

#[test]
fn expansion_is_bounded() {
    // Arguments nested deeper than the limit (16).
    let deep = format!(
        "#define F(x) x\nconst long A = {}1{};\n",
        "F(".repeat(17),
        ")".repeat(17)
    );
    err(&deep, 2, 46, "nest deeper than 16 levels inside arguments");
    // Directives inside an invocation's arguments: a few are fine, more than 64 are not.
    let few = format!(
        "#define ADD(a, b) ((a) + (b))\nconst long A = ADD(1,\n{}2);\n",
        "#ifdef X\n#endif\n".repeat(10)
    );
    assert!(ok(&few).contains("pub const A: i32 = 3i32;"));
    let many = format!(
        "#define ADD(a, b) ((a) + (b))\nconst long A = ADD(1,\n{}2);\n",
        "#pragma x\n".repeat(65)
    );
    err(&many, 67, 1, "run across more than 64 directives");
    // A chain of macros deeper than the limit.
    let mut chain = String::new();
    for i in 0..17 {
        chain.push_str(&format!("#define M{i}(x) M{}(x)\n", i + 1));
    }
    chain.push_str("#define M17(x) x\nconst long A = M0(1);\n");
    let d = compile(&chain).expect_err("too deep");
    assert!(
        d.to_string().contains("nests deeper than 16 expansions"),
        "{d}"
    );
    // Exponential growth: each level quadruples; stopped by the token bounds, not memory.
    let mut grow = String::from("#define D0(x) x x\n");
    for i in 1..14 {
        grow.push_str(&format!("#define D{i}(x) D{}(D{}(x))\n", i - 1, i - 1));
    }
    grow.push_str("const long A = D13(1);\n");
    let d = compile(&grow).expect_err("too big");
    let s = d.to_string();
    assert!(
        s.contains("macro expansion exceeds") || s.contains("macro replacement produces more than"),
        "{s}"
    );
}
