"""The toolkit's own task families, one module each (``interp.family`` says what a family declares):

- ``parity``: k-sparse parity (Han & Ghoshdastidar);
- ``selection``: sparse token selection (Sanford et al.; Wang et al.);
- ``counting``: contextual counting (Golkar et al.);
- ``positional``: cumsum, cummin, cummedian, sort, cummaxsub on positional attention (Back de Luca et al.);
- ``tracr``: RASP programs compiled by tracr, models nobody here wrote.
"""
