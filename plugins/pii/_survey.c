/* The PII scanner's first look at a text, in one pass in C.
 *
 * `plugins/pii/survey.py` holds the reference implementation of both functions, in Python,
 * and says what they return; this module must give the same answers (the tests compare the
 * two on generated texts). Why it exists: in CPython 3.11 every str method call costs ~1,000
 * machine instructions in argument parsing alone, and the Python version needs ~30 of them per
 * text (first and last digit, each mark character) plus a regex pass for the digit clusters;
 * here they are one loop over the text.
 *
 * Built as an optional extension: when it cannot be compiled, the Python version is used.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* At most this many mark characters (the scanner uses about ten). */
#define MAX_MARKS 64
/* A survey's places before its marks': first digit, last digit, two heads. */
#define FIXED 4

/* Bit i of the result: whether chars[i] is an ASCII digit, for 16 characters. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline unsigned
digits16(const Py_UCS1 *chars)
{
    __m128i bytes = _mm_loadu_si128((const __m128i *)chars);
    __m128i offset = _mm_sub_epi8(bytes, _mm_set1_epi8('0')); /* digits: 0..9 */
    __m128i small = _mm_min_epu8(offset, _mm_set1_epi8(9));
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(small, offset));
}
#else
static inline unsigned
digits16(const Py_UCS1 *chars)
{
    unsigned mask = 0;
    for (int k = 0; k < 16; k++) {
        mask |= (unsigned)((unsigned)(chars[k] - '0') < 10) << k;
    }
    return mask;
}
#endif

static inline int
is_digit(Py_UCS1 c)
{
    return (unsigned)(c - '0') < 10;
}

static Py_ssize_t
first_digit_1byte(const Py_UCS1 *chars, Py_ssize_t length)
{
    Py_ssize_t i = 0;
    for (; i + 16 <= length; i += 16) {
        unsigned mask = digits16(chars + i);
        if (mask) {
            return i + __builtin_ctz(mask);
        }
    }
    for (; i < length; i++) {
        if (is_digit(chars[i])) {
            return i;
        }
    }
    return -1;
}

/* The last digit, given that there is one at `first`. */
static Py_ssize_t
last_digit_1byte(const Py_UCS1 *chars, Py_ssize_t first, Py_ssize_t length)
{
    Py_ssize_t end = length;
    for (; end - 16 >= first; end -= 16) {
        unsigned mask = digits16(chars + end - 16);
        if (mask) {
            return end - 16 + (31 - __builtin_clz(mask));
        }
    }
    for (Py_ssize_t i = end - 1; i > first; i--) {
        if (is_digit(chars[i])) {
            return i;
        }
    }
    return first;
}

/* A character of `survey.TOKEN_CLASS`: [A-Za-z0-9+/_-]. */
static inline int
is_token(Py_UCS1 c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' ||
           c == '/' || c == '_' || c == '-';
}

/* Where `survey.TOKEN_DIGIT` first matches in an ASCII text whose digits lie from `first`
 * to `last`: a digit with 15 token characters before it (16 with itself) or 15 after it. */
static Py_ssize_t
token_digit(const Py_UCS1 *chars, Py_ssize_t length, Py_ssize_t first, Py_ssize_t last)
{
    Py_ssize_t run = 0; /* token characters ending just before i (counted up to 15) */
    for (Py_ssize_t k = first - 1; k >= 0 && run < 15 && is_token(chars[k]); k--) {
        run++;
    }
    for (Py_ssize_t i = first; i <= last; i++) {
        if (!is_token(chars[i])) {
            run = 0;
            continue;
        }
        run++;
        if (!is_digit(chars[i])) {
            continue;
        }
        if (run >= 16) {
            return i;
        }
        Py_ssize_t j = i + 1;
        while (j < length && j <= i + 15 && is_token(chars[j])) {
            j++;
        }
        if (j == i + 16) {
            return i;
        }
    }
    return -1;
}

/* Where `survey.LETTERS_DIGITS` first matches in an ASCII text whose digits lie from
 * `first` to `last`: two capital letters, then two digits. */
static Py_ssize_t
letters_digits(const Py_UCS1 *chars, Py_ssize_t first, Py_ssize_t last)
{
    for (Py_ssize_t d = first > 2 ? first : 2; d < last; d++) {
        if (is_digit(chars[d]) && is_digit(chars[d + 1]) && chars[d - 1] >= 'A' &&
            chars[d - 1] <= 'Z' && chars[d - 2] >= 'A' && chars[d - 2] <= 'Z') {
            return d - 2;
        }
    }
    return -1;
}

/* The first place of `literal` in `text` that has `anchor` `anchor_at` characters after it:
 * memchr over the anchor's places (a character prose rarely holds), a compare at each. */
static Py_ssize_t
literal_start(PyObject *text, PyObject *literal, Py_UCS4 anchor, Py_ssize_t anchor_at,
              Py_ssize_t at)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), size = PyUnicode_GET_LENGTH(literal);
    int kind = PyUnicode_KIND(text), literal_kind = PyUnicode_KIND(literal);
    const void *data = PyUnicode_DATA(text), *literal_data = PyUnicode_DATA(literal);
    while (at >= 0) {
        Py_ssize_t begin = at - anchor_at;
        if (begin >= 0 && begin + size <= length) {
            Py_ssize_t k = 0;
            if (kind == PyUnicode_1BYTE_KIND && literal_kind == PyUnicode_1BYTE_KIND) {
                k = memcmp((const Py_UCS1 *)data + begin, literal_data, (size_t)size) ? -1 : size;
            }
            else {
                while (k < size && PyUnicode_READ(kind, data, begin + k) ==
                                       PyUnicode_READ(literal_kind, literal_data, k)) {
                    k++;
                }
            }
            if (k == size) {
                return begin;
            }
        }
        at = PyUnicode_FindChar(text, anchor, at + 1, length, 1);
        if (at == -2) {
            return -2;
        }
    }
    return -1;
}

/* survey(text: str, marks: str, literals: tuple[tuple[str, int, int], ...], heads: bool)
 *
 * See survey.py: (first ASCII digit, last ASCII digit, where TOKEN_DIGIT and LETTERS_DIGITS
 * first match when `heads` and the text is ASCII, the first place of each character of
 * `marks`, for each (literal, mark, anchor_at) of `literals` the first place of the literal
 * with ``marks[mark]`` `anchor_at` characters after it), -1 for "none".
 */
static PyObject *
survey(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) ||
        !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "survey(text: str, marks: str, literals: tuple, heads: bool)");
        return NULL;
    }
    int heads = PyObject_IsTrue(args[3]);
    if (heads < 0) {
        return NULL;
    }
    PyObject *text = args[0], *marks = args[1], *literals = args[2];
    if (PyUnicode_READY(text) < 0 || PyUnicode_READY(marks) < 0) {
        return NULL;
    }
    Py_ssize_t nmarks = PyUnicode_GET_LENGTH(marks);
    Py_ssize_t nliterals = PyTuple_GET_SIZE(literals);
    if (nmarks > MAX_MARKS || !PyUnicode_IS_ASCII(marks)) {
        PyErr_SetString(PyExc_ValueError, "survey: marks must be at most 64 ASCII characters");
        return NULL;
    }
    const Py_UCS1 *mark = PyUnicode_1BYTE_DATA(marks);
    unsigned char slot[128] = {0}; /* ASCII character -> its place in `marks` + 1 */
    for (Py_ssize_t m = 0; m < nmarks; m++) {
        if ((mark[m] >= '0' && mark[m] <= '9') || slot[mark[m]]) {
            PyErr_SetString(PyExc_ValueError, "survey: marks must be distinct non-digits");
            return NULL;
        }
        slot[mark[m]] = (unsigned char)(m + 1);
    }
    PyObject *result = PyTuple_New(FIXED + nmarks + nliterals);
    if (result == NULL) {
        return NULL;
    }
    Py_ssize_t first_digit = -1, last_digit = -1, token = -1, letters = -1, found[MAX_MARKS];
    for (Py_ssize_t m = 0; m < nmarks; m++) {
        found[m] = -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        /* Most texts: memchr (vectorised by the C library) for each mark, and the digits
         * looked for eight bytes at a time from each end. */
        const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text);
        first_digit = first_digit_1byte(chars, length);
        if (first_digit >= 0) {
            last_digit = last_digit_1byte(chars, first_digit, length);
            if (heads && PyUnicode_IS_ASCII(text)) {
                token = token_digit(chars, length, first_digit, last_digit);
                letters = letters_digits(chars, first_digit, last_digit);
            }
        }
        for (Py_ssize_t m = 0; m < nmarks; m++) {
            const Py_UCS1 *at = memchr(chars, mark[m], (size_t)length);
            found[m] = at == NULL ? -1 : at - chars;
        }
    }
    else {
        for (Py_ssize_t i = 0; i < length; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c >= 128) {
                continue;
            }
            if (c - '0' < 10) {
                if (first_digit < 0) {
                    first_digit = i;
                }
                last_digit = i;
            }
            else if (slot[c] && found[slot[c] - 1] < 0) {
                found[slot[c] - 1] = i;
            }
        }
    }
    for (Py_ssize_t n = 0; n < FIXED + nmarks + nliterals; n++) {
        Py_ssize_t value;
        if (n < FIXED) {
            value = n == 0 ? first_digit : n == 1 ? last_digit : n == 2 ? token : letters;
        }
        else if (n < FIXED + nmarks) {
            value = found[n - FIXED];
        }
        else {
            /* Read without PyArg_ParseTuple: it costs more than the search. */
            PyObject *spec = PyTuple_GET_ITEM(literals, n - FIXED - nmarks);
            if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3 ||
                !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0))) {
                PyErr_SetString(PyExc_TypeError, "survey: literals: (literal, mark, anchor_at)");
                Py_DECREF(result);
                return NULL;
            }
            PyObject *literal = PyTuple_GET_ITEM(spec, 0);
            Py_ssize_t which = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 1));
            Py_ssize_t anchor_at = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 2));
            if (which < 0 || which >= nmarks || anchor_at < 0 ||
                PyUnicode_READY(literal) < 0) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_ValueError, "survey: a literal's mark is not in marks");
                }
                Py_DECREF(result);
                return NULL;
            }
            value = found[which] < 0 ? -1
                                     : literal_start(text, literal, mark[which], anchor_at,
                                                     found[which]);
            if (value == -2) {
                Py_DECREF(result);
                return NULL;
            }
        }
        PyObject *number = PyLong_FromSsize_t(value);
        if (number == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, n, number);
    }
    return result;
}

/* The characters a digit cluster may hold besides digits (`survey.CLUSTER`'s class). */
static int
is_separator(Py_UCS4 c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+';
}

/* clusters(text: str, pos: int, endpos: int) -> list[tuple[int, int, int]]
 *
 * What `survey.CLUSTER.finditer(text, pos, endpos)` matches -- runs of digits (any script's
 * decimal digits, as the regex's \d) and ``+-.() ``, from a ``+``, ``(`` or digit to a digit,
 * at least 7 long -- as (start, end, count): `count` is how many characters of
 * ``text[start:end + 1]`` (one more: the character after the run, when there is one) are
 * not one of ``+-.() ``.
 */
static PyObject *
clusters(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "clusters(text: str, pos: int, endpos: int)");
        return NULL;
    }
    PyObject *text = args[0];
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    /* As re's pos and endpos: clipped to the text. */
    if (pos < 0) {
        pos = 0;
    }
    if (end > length) {
        end = length;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *result = PyList_New(0);
    if (result == NULL) {
        return NULL;
    }
    Py_ssize_t i = pos;
    while (i < end) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!(c == '+' || c == '(' || Py_UNICODE_ISDECIMAL(c))) {
            i++;
            continue;
        }
        /* The longest run of cluster characters from here, and its last digit. Starting
         * later inside the run can only end at the same digit, so a run too short from
         * here is too short from anywhere in it; and the character ending the run cannot
         * start one. */
        Py_ssize_t j = i + 1, last = -1;
        while (j < end) {
            Py_UCS4 d = PyUnicode_READ(kind, data, j);
            if (Py_UNICODE_ISDECIMAL(d)) {
                last = j;
            }
            else if (!is_separator(d)) {
                break;
            }
            j++;
        }
        if (last >= i + 6) {
            Py_ssize_t stop = last + 2 <= length ? last + 2 : length, count = 0;
            for (Py_ssize_t k = i; k < stop; k++) {
                count += !is_separator(PyUnicode_READ(kind, data, k));
            }
            PyObject *found = Py_BuildValue("(nnn)", i, last + 1, count);
            if (found == NULL || PyList_Append(result, found) < 0) {
                Py_XDECREF(found);
                Py_DECREF(result);
                return NULL;
            }
            Py_DECREF(found);
        }
        i = j + 1;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"survey", (PyCFunction)(void (*)(void))survey, METH_FASTCALL,
     "survey(text, marks, literals, heads): see litegate.plugins.pii.survey."},
    {"clusters", (PyCFunction)(void (*)(void))clusters, METH_FASTCALL,
     "clusters(text, pos, endpos): the digit clusters, as (start, end, count)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_survey",
    "The PII scanner's first look at a text, in C (see survey.py).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__survey(void)
{
    return PyModuleDef_Init(&module);
}
