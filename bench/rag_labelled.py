"""The labelled retrieval set of the RAG benchmark: a corpus that ships with Python and
questions about it written by hand, each with the documents that answer it.

The corpus is Python's own help: the topics ``help()`` shows (``pydoc_data.topics``,
the language reference's sections) and the docstrings of some standard-library modules,
so it is on every machine that runs the benchmark and needs no download. A few topics are
left out because they are other topics put together (``compound`` holds ``if``, ``for``,
``try``, ``with``… word for word): with them in, a question would have two right answers
that are the same text, and which one a search ranks first would be luck. Where one topic
holds a smaller one (``assignment`` holds ``augassign``), both count as relevant.

The questions are asked the way a user asks, not quoted from the documents: some name
the thing (``heappush``, ``nonlocal``: words that BM25 finds), many describe it in other
words ("run cleanup code even when an error happens" for ``try``: meaning, which the
vectors find), so that neither kind of search alone answers all of them. The labels were
checked against Python 3.11's texts; another Python's help differs a little, so compare
figures taken on one Python only.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

__all__ = ["LEFT_OUT", "MODULES", "QUERIES", "Query", "corpus"]


@dataclass(frozen=True)
class Query:
    """One question and the names of the corpus documents that answer it."""

    text: str
    relevant: tuple[str, ...]


LEFT_OUT = frozenset({"compound", "specialnames", "execmodel", "else"})
"""Help topics made of other topics: ``compound`` (the compound statements), ``specialnames``
(every special method section), ``execmodel`` (``naming``, ``exceptions`` and more), and
``else``, which is the ``if`` topic again."""

MODULES = (
    "argparse",
    "ast",
    "collections",
    "configparser",
    "copy",
    "csv",
    "difflib",
    "doctest",
    "fnmatch",
    "ftplib",
    "gc",
    "getopt",
    "hashlib",
    "heapq",
    "inspect",
    "io",
    "itertools",
    "json",
    "os",
    "plistlib",
    "random",
    "re",
    "sched",
    "shelve",
    "socket",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "sys",
    "tempfile",
    "time",
    "timeit",
    "tokenize",
    "trace",
    "typing",
    "unittest",
    "uuid",
    "wave",
    "xml",
    "zlib",
)
"""Standard-library modules whose docstrings join the corpus as ``module:NAME``: each
says at some length what the module is for (a one-line docstring would be no document)."""


def corpus() -> dict[str, str]:
    """Every document by name, in name order: the help topics under their own names
    (``try``, ``formatstrings``) and the modules' docstrings as ``module:NAME``."""
    from pydoc_data.topics import topics

    documents = {name: text for name, text in topics.items() if name not in LEFT_OUT}
    for name in MODULES:
        documents[f"module:{name}"] = inspect.getdoc(importlib.import_module(name)) or ""
    return dict(sorted(documents.items()))


QUERIES: list[Query] = [
    # statements and control flow
    Query("how do I run cleanup code even when an error happens", ("try", "exceptions")),
    Query("catch several kinds of failure and handle each one differently", ("try",)),
    Query("which values count as false when tested in a condition", ("truth", "booleans")),
    Query(
        "change a variable of the outer function from inside an inner one", ("nonlocal", "naming")
    ),
    Query("rebind a module-level variable from within a function body", ("global", "naming")),
    Query("skip the rest of the current iteration and go on with the next", ("continue",)),
    Query("leave a loop early before it has gone through every item", ("break",)),
    Query("a statement that does nothing, to fill an empty block", ("pass",)),
    Query(
        "loop with an else clause that only runs when no break happened",
        ("for", "while", "break"),
    ),
    Query("keep repeating a block as long as some condition holds", ("while",)),
    Query("choose between several branches with elif", ("if",)),
    Query("what is __debug__ and when are sanity checks skipped", ("assert",)),
    Query("throw an error from another one so the original shows up as its cause", ("raise",)),
    Query("send a value back from a function to whoever called it", ("return",)),
    Query("remove a name binding or an item from a list", ("del",)),
    Query(
        "a function that hands out values one at a time and resumes where it left off",
        ("yield", "types"),
    ),
    Query(
        "a block that sets up a resource and always releases it afterwards",
        ("with", "context-managers", "try"),
    ),
    Query("write my own object that can be used in a with block", ("context-managers", "with")),
    Query("bring in a module under a shorter alias, or from the parent package", ("import",)),
    Query("unpack a tuple into several names at once, e.g. swapping two values", ("assignment",)),
    Query("x += 1 style in-place update operators", ("augassign", "assignment")),
    # functions, classes, names
    Query("small unnamed function written inline as an expression", ("lambda",)),
    Query(
        "why does a list default argument keep its contents between calls", ("function", "calls")
    ),
    Query("wrap a function with a decorator using the @ syntax", ("function",)),
    Query("pass arguments by name, and collect extra ones with *args and **kwargs", ("calls",)),
    Query("declare a class that inherits from base classes", ("class",)),
    Query("methods bound to an instance get self filled in automatically", ("typesmethods",)),
    Query(
        "attributes starting with two underscores get renamed per class",
        ("atom-identifiers", "id-classes", "identifiers"),
    ),
    Query("how python decides which scope a variable name refers to", ("naming",)),
    Query("list of reserved words that cannot be used as variable names", ("identifiers",)),
    Query(
        "what a function gives back when it has no return statement",
        ("bltin-null-object", "return"),
    ),
    Query("write asynchronous functions with async def and await", ("async", "await")),
    Query("what is Ellipsis (three dots) used for", ("bltin-ellipsis-object",)),
    # operators and literals
    Query("which operators bind tighter than others, e.g. not versus and", ("operator-summary",)),
    Query("why is -1**2 negative", ("power",)),
    Query("floor division and the remainder of dividing integers", ("binary",)),
    Query("move the bits of an integer left or right", ("shifting",)),
    Query("exclusive or and and of two ints bit by bit", ("bitwise",)),
    Query("chain comparisons like 0 < x < 10", ("comparisons",)),
    Query("test whether two names point to the very same object", ("comparisons", "objects")),
    Query("check if an element is contained in a collection", ("in", "comparisons")),
    Query("type an integer in hex, octal or binary in my source code", ("integers",)),
    Query("exponent notation like 1e-9 for non-integer numbers", ("floating",)),
    Query("backslashes inside a string that should not be escapes", ("strings",)),
    Query("what happens to an int added to a float: which type wins", ("conversions",)),
    # built-in types
    Query(
        "pad a number with leading zeros to a fixed width when formatting",
        ("formatstrings", "string-methods"),
    ),
    Query("make text upper case or trim whitespace at both ends", ("string-methods",)),
    Query("get a dictionary value with a fallback when the key is absent", ("typesmapping",)),
    Query("build a dict in one expression with a comprehension", ("dict",)),
    Query("take every other element with a step in the brackets", ("slicings", "typesseq")),
    Query("append, insert or pop items of a list in place", ("typesseq-mutable", "typesseq")),
    Query("an object's identity, its type and whether it is mutable", ("objects",)),
    # special methods
    Query("control how my object is shown when printed", ("customization",)),
    Query("run code when an attribute lookup on my object fails", ("attribute-access",)),
    Query("make my own class support len() and square bracket indexing", ("sequence-types",)),
    Query("define __add__ and __radd__ so my class supports +", ("numeric-types",)),
    Query("make an instance callable as if it were a function", ("callable-types",)),
    # the standard library
    Query("a dict that counts occurrences of things", ("module:collections",)),
    Query("double-ended queue with quick appends on either side", ("module:collections",)),
    Query("priority queue that always hands out the smallest item", ("module:heapq",)),
    Query(
        "duplicate a nested list so changes to the copy leave the original alone", ("module:copy",)
    ),
    Query(
        "parse command line options and flags of a script",
        ("module:argparse", "module:getopt"),
    ),
    Query("load a spreadsheet exported as comma separated text", ("module:csv",)),
    Query("lightweight text format to exchange data with a web API", ("module:json",)),
    Query("find all substrings that look like a date with a pattern", ("module:re",)),
    Query("show the differences between two versions of a text", ("module:difflib",)),
    Query("fingerprint a file's bytes with sha256", ("module:hashlib",)),
    Query("make a random identifier that is unique everywhere", ("module:uuid",)),
    Query("mean, median and spread of a list of measurements", ("module:statistics",)),
    Query("shuffle a list or draw a sample at random", ("module:random",)),
    Query("start another program and read what it prints", ("module:subprocess",)),
    Query("scratch files and folders that are removed when done", ("module:tempfile",)),
    Query("benchmark how long a short snippet takes", ("module:timeit",)),
    Query("seconds since 1970 and converting them to a local date", ("module:time",)),
    Query("lay out numbers as bytes in big-endian order for a binary format", ("module:struct",)),
    Query("keep python objects on disk in something that works like a dict", ("module:shelve",)),
    Query("a small SQL database in a file or in memory", ("module:sqlite3",)),
    Query("shrink data and get it back, gzip style", ("module:zlib",)),
    Query("test cases as classes with assertEqual", ("module:unittest",)),
    Query("examples in docstrings that are checked by running them", ("module:doctest",)),
    Query("pause a running program and walk through it line by line", ("debugger",)),
    Query("which lines of my program actually ran", ("module:trace",)),
    Query(
        "reclaim memory from objects that refer to each other in a loop", ("module:gc", "objects")
    ),
    Query("annotate variables and functions with types for a checker", ("module:typing",)),
    Query("get hold of the source code of a function while the program runs", ("module:inspect",)),
    Query("read settings from an ini file with [sections]", ("module:configparser",)),
    Query("match filenames against shell wildcards such as *.txt", ("module:fnmatch",)),
    Query("environment variables and the path separator of this operating system", ("module:os",)),
    Query("the arguments given to my script and where modules are looked for", ("module:sys",)),
    Query("talk to a server over TCP", ("module:socket",)),
    Query("upload a file to a remote machine the old-fashioned way", ("module:ftplib",)),
    Query("how many channels and what sample rate a sound file has", ("module:wave",)),
    Query("permutations and combinations of a list, or an infinite counter", ("module:itertools",)),
    Query("look at the tree of a parsed python program", ("module:ast",)),
    Query("break python source into its tokens", ("module:tokenize",)),
    Query("read preference files from a Mac", ("module:plistlib",)),
    Query("walk an XML document's elements", ("module:xml",)),
    Query("buffered binary streams versus text streams", ("module:io",)),
    Query("run a function at a given time later on", ("module:sched",)),
    Query("constant strings of all ascii letters, digits and punctuation", ("module:string",)),
    # named things: identifiers a user has seen and looks up
    Query("difference between __getattr__ and __getattribute__", ("attribute-access",)),
    Query("what does __slots__ do to instance memory", ("attribute-access",)),
    Query("__enter__ and __exit__ methods", ("context-managers", "with")),
    Query("__bool__ versus __len__ for truthiness", ("truth", "customization")),
    Query("__hash__ when I also define __eq__", ("customization",)),
    Query("__missing__ in a dict subclass", ("typesmapping", "sequence-types")),
    Query("__class__, __bases__ and __dict__ attributes", ("specialattrs",)),
    Query("__code__ of a function and compile()", ("bltin-code-objects",)),
    Query("__cause__ versus __context__ of an exception", ("raise",)),
    Query("except* and exception groups", ("try",)),
    Query("from __future__ import statements", ("import",)),
    Query("what divmod returns", ("binary",)),
    Query("what does zfill do", ("string-methods",)),
    Query("heappushpop versus heapreplace", ("module:heapq",)),
    Query("ChainMap over several dicts", ("module:collections",)),
    Query("defaultdict with a factory for missing keys", ("module:collections",)),
    Query("blake2b and sha3_256 constructors", ("module:hashlib",)),
    Query("get_close_matches for spelling suggestions", ("module:difflib",)),
    Query("SequenceMatcher ratio of two strings", ("module:difflib",)),
    Query("mkstemp or mkdtemp", ("module:tempfile",)),
    Query("nargs and metavar in add_argument", ("module:argparse",)),
    Query("post_mortem debugging after a crash", ("debugger",)),
    Query("crc32 and adler32 checksums", ("module:zlib",)),
    Query("Popen with stdout=PIPE", ("module:subprocess",)),
    Query("os.sep and os.linesep", ("module:os",)),
    Query("getmembers and getsource", ("module:inspect",)),
    Query("uuid4 versus uuid1", ("module:uuid",)),
    Query("TypeVar, Protocol and generic aliases", ("module:typing",)),
    Query("json dumps with indent and sort_keys", ("module:json",)),
    Query("re.compile with IGNORECASE and VERBOSE flags", ("module:re",)),
    Query("ConfigParser interpolation of values", ("module:configparser",)),
    # more in a user's words
    Query("placeholders in curly braces that get filled in with values", ("formatstrings",)),
    Query("a live read-only look at a dictionary's keys", ("typesmapping",)),
    Query("sort a list in place by a key function", ("typesseq",)),
    Query("repeat a string several times with *", ("typesseq",)),
    Query("glue a list of strings together with a separator", ("string-methods",)),
    Query("how names are looked up inside a class body versus its methods", ("naming",)),
    Query("the precedence of a if b else c", ("operator-summary",)),
    Query("write a number with an imaginary part", ("imaginary",)),
]
"""The questions, grouped loosely by subject (the order means nothing to the metrics)."""
