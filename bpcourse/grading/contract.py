"""The grading contract: one entry per graded behaviour, and the limits every cell runs under.

A *behaviour* is one test cell of an assignment (grade id ``test_<name>``). Its entry says
which student function the check ``checks.check_<name>`` calls, how many points the cell
is worth, which reference helpers replace the student's own while the check runs (so a
bug in ``softmax`` costs the softmax cells only; a behaviour with such helpers needs the
notebook's namespace, ``ns=globals()``), and which common mistakes (``MISTAKES``) its
failures can name. Everything that grades reads this table: the test cells
(``record(name, fn)``), the checks, the grading channel, the grading preprocessors, the
driver's summary and the tests. Nothing derives a behaviour's facts from its name.
"""

from dataclasses import dataclass

__all__ = ["BEHAVIOURS", "MISTAKES", "TOOLS", "Behaviour", "by_cell", "notebook_seconds",
           "submission_seconds"]


# -- limits ---------------------------------------------------------------------------
# The limits themselves (a cell's time, the notebook's, memory, output...) are set in one
# place, the course's nbgrader_config.py; these say how the budgets follow from them.
def notebook_seconds(cell_seconds, configured=0):
    """The whole notebook's budget (cells after it are not run): ``configured``, or by
    default three cells' worth and at least 5 minutes."""
    return configured or max(3 * cell_seconds, 300)


def submission_seconds(cell_seconds, configured=0):
    """How long grading one submission may take before its worker is stopped: the
    notebook's budget plus nbgrader's own work (start-up, checksums, feedback)."""
    return notebook_seconds(cell_seconds, configured) + 180


# -- the mistakes the checks recognise ---------------------------------------------------
# Each message names the mistake and points at the idea to revisit, never at the code.
MISTAKES = {
    "sigmoid_itself": (
        "Mistake: your sigmoid derivative returns sigma(z) itself. The derivative of the "
        "sigmoid is not the sigmoid: differentiate 1 / (1 + e^-z) with the chain rule and "
        "write the result in terms of sigma(z) (chapter 2)."),
    "activation_as_input": (
        "Mistake: you treated the input as if it were the activation's output. This "
        "function receives the pre-activation z, so apply the activation to z first."),
    "transposed_weights": (
        "Mistake: transposed weights. In this course W has shape (n_in, n_out) and a batch "
        "has one example per row, so check which side of the product each matrix goes on "
        "and whether it needs a transpose: the shapes must line up without it being square."),
    "transposed_result": (
        "Mistake: your result is transposed (it has one column per example). Results keep "
        "the convention of the inputs: one row per example."),
    "missing_1_over_n": (
        "Mistake: off by the batch size: your result is n times too large (n = number of "
        "examples in the batch). The loss is the MEAN over the batch, so the loss and each "
        "of its gradients carry a factor 1/n."),
    "doubled_1_over_n": (
        "Mistake: off by the batch size: your result is n times too small (n = number of "
        "examples in the batch): the factor 1/n of the mean loss has been applied twice. "
        "Apply it once (it is already inside dZ when dZ comes from the loss)."),
    "sign_error": (
        "Mistake: sign error. Your result is the exact negative of the right one: check "
        "the sign in the derivative (and whether you step down or up the gradient)."),
    "bias_not_summed": (
        "Mistake: the bias gradient is not summed over the batch. b is shared by all n "
        "examples, so db has the shape of b, (n_out,), and collects every example's "
        "contribution."),
    "bias_averaged": (
        "Mistake: the bias gradient is averaged over the batch instead of summed: dZ "
        "already carries the 1/n of the mean loss."),
    "broadcasting": (
        "Mistake: a shape that only works by broadcasting. Your code gives the right shape "
        "only for some inputs (square ones, or a single row), because NumPy stretched an "
        "array along an axis it should not have. Compare the shapes of the arrays you "
        "combine and keep the reduced axis (keepdims=True) where rows must stay rows."),
    "in_place": (
        "Mistake: your function modified its input array in place, so the caller's data "
        "changed. Compute into a new array (statements like x[...] = ..., x -= ... or "
        "rng.shuffle(x) write into the caller's array)."),
    "rebound": (
        "Mistake: your update puts new arrays into the dict (params[key] = p - ...) "
        "instead of changing the arrays that are there. Everything else that holds those "
        "arrays (the network, an optimizer's state) keeps the old values: update each "
        "array in place (p -= ..., or p[...] = ...)."),
    "overflow": (
        "Mistake: overflow at large logits. exp(1000) is inf in floating point, and inf/inf "
        "or log(0) then gives nan or inf. Rewrite the computation so that exp only ever "
        "sees arguments <= 0 (for softmax, a shift that does not change the result; for the "
        "BCE, the identity in chapter 3)."),
}


# -- the behaviours ---------------------------------------------------------------------
@dataclass(frozen=True)
class Behaviour:
    """One graded behaviour: one test cell, one check, one student function."""

    name: str  # the check is checks.check_<name>; the test cell's grade id is test_<name>
    assignment: str
    function: str  # the student's function the check calls
    points: int
    title: str  # the promise the check keeps, all of it (the test cell's docstring)
    isolates: tuple = ()  # reference helpers swapped in for the student's while it runs
    mistakes: tuple = ()  # names in MISTAKES its failures can carry

    @property
    def cell(self):
        return f"test_{self.name}"

    @property
    def needs_namespace(self):
        return bool(self.isolates)


_FORWARD = ("dense_forward", "softmax")
_BACKWARD = ("dense_backward", "softmax_cross_entropy_backward", "relu_backward",
             "sigmoid_backward", "tanh_backward")
# What every check can name from how a call goes wrong: an exception about shapes...
_CALL = ("transposed_weights", "broadcasting")
# ... a result compared with the reference (a transposed or stretched shape, nan or inf,
# the exact negative), and the caller's arrays changed.
_COMPARE = ("transposed_result", "broadcasting", "overflow", "sign_error")
_GENERIC = _CALL + _COMPARE + ("in_place",)
_BATCH = ("missing_1_over_n", "doubled_1_over_n")  # results that scale with the batch


def _b(name, assignment, function, points, title, *specific, isolates=(), generic=_GENERIC):
    mistakes = tuple(dict.fromkeys(specific + generic))
    return Behaviour(name, assignment, function, points, title, isolates, mistakes)


BEHAVIOURS = {b.name: b for b in [
    # ps1: activations and losses
    _b("sigmoid", "ps1", "sigmoid", 2,
       "right values for any shape, including saturated inputs |z| = 1000"),
    _b("sigmoid_prime", "ps1", "sigmoid_prime", 2,
       "the derivative, for any shape and saturated inputs",
       "sigmoid_itself", "activation_as_input"),
    _b("relu", "ps1", "relu", 1, "values, shape, and the input left unchanged"),
    _b("relu_prime", "ps1", "relu_prime", 1, "1 for z > 0, 0 otherwise, as floats",
       "activation_as_input"),
    _b("tanh", "ps1", "tanh", 1, "values for any shape, including saturated inputs"),
    _b("tanh_prime", "ps1", "tanh_prime", 1,
       "the derivative, for any shape and saturated inputs", "activation_as_input"),
    _b("bce_with_logits", "ps1", "bce_with_logits", 2,
       "the mean loss over the batch, moderate logits", *_BATCH),
    _b("bce_with_logits_stable", "ps1", "bce_with_logits", 1,
       "exact and finite for saturated logits |a| = 1000"),
    _b("bce_with_logits_grad", "ps1", "bce_with_logits_grad", 2,
       "the gradient of the mean loss, any batch size", *_BATCH),
    # ps2: the forward pass
    _b("dense_forward", "ps2", "dense_forward", 2,
       "Z = A_prev W + b for square and non-square W, any batch size"),
    _b("softmax", "ps2", "softmax", 2, "row-wise probabilities for batches of any shape"),
    _b("softmax_stable", "ps2", "softmax", 1,
       "exact and finite for large logits, and for rows far apart"),
    _b("mlp_forward_output", "ps2", "mlp_forward", 2,
       "the output P for 1 to 3 layers and each hidden activation", isolates=_FORWARD),
    _b("mlp_forward_cache", "ps2", "mlp_forward", 2,
       "the cache of every layer, Z[l] and A[l]", isolates=_FORWARD),
    # ps3: the backward pass
    _b("dense_backward_dW", "ps3", "dense_backward", 2, "dW, with the shape of W", *_BATCH),
    _b("dense_backward_db", "ps3", "dense_backward", 1, "db, with the shape of b",
       "bias_not_summed", "bias_averaged", *_BATCH),
    _b("dense_backward_dA_prev", "ps3", "dense_backward", 2,
       "dA_prev, with the shape of A_prev", *_BATCH),
    _b("relu_backward", "ps3", "relu_backward", 1, "dZ = dA * relu'(Z)"),
    _b("sigmoid_backward", "ps3", "sigmoid_backward", 1, "dZ = dA * sigmoid'(Z)",
       "sigmoid_itself", "activation_as_input"),
    _b("tanh_backward", "ps3", "tanh_backward", 1, "dZ = dA * tanh'(Z)",
       "activation_as_input"),
    _b("softmax_cross_entropy_backward", "ps3", "softmax_cross_entropy_backward", 2,
       "dL/dZ of the mean loss, any batch size", *_BATCH),
    _b("mlp_backward", "ps3", "mlp_backward", 3,
       "every gradient of 1- to 3-layer MLPs, each hidden activation",
       "bias_averaged", *_BATCH, isolates=_BACKWARD),
    # ps4: SGD and training
    _b("sgd_step", "ps4", "sgd_step", 2, "theta - lr * g for every parameter, in place",
       "rebound"),
    _b("minibatches_cover", "ps4", "minibatches", 2,
       "every example exactly once, X and Y aligned, batch sizes right",
       "in_place", generic=_CALL),
    _b("minibatches_shuffled", "ps4", "minibatches", 1,
       "a new random order every epoch, drawn from rng", "in_place", generic=_CALL),
    _b("train", "ps4", "train", 3,
       "3 epochs on 10,000 MNIST images reach 90% validation accuracy",
       isolates=("sgd_step", "minibatches"), generic=_CALL),
    _b("save_model", "ps4", "save_model", 2, "bpcourse.load_json reads the file back exactly",
       "in_place", generic=_CALL),
]}

_BY_CELL = {b.cell: b for b in BEHAVIOURS.values()}


def by_cell(grade_id):
    """The behaviour a test cell grades, or None for a cell that is not one of them."""
    return _BY_CELL.get(grade_id)


# -- what each assignment hands out ------------------------------------------------------
# The package's modules a graded kernel may import, per assignment: module -> the names it
# hands out (None: all of it). The sandbox mounts only these (``view.py``), cut to the
# definitions they need, with what they import, so nothing that implements a function the
# assignment grades is in reach; ``view.files`` refuses a table that would show one.
TOOLS = {
    "ps1": {},
    "ps2": {"activations": ("relu", "sigmoid", "tanh")},  # problem set 1, as a package
    "ps3": {"activations": None, "gradcheck": None},
    "ps4": {"mlp": ("MLP",), "mnist": ("load_mnist",), "io": ("load_json",),
            "datasets": None},
}
