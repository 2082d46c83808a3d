"""How the local pathway's objects meet the global pathway's background (GANConfig.compositing).

A compositing turns background (B, H, W, 1) and objects (M, s, s, channels) into the image
(B, H, W, 1) and the objects' combined alpha on the canvas (B, H, W, 1), or None where it has
none, through a batch's layout (:class:`tinygan.placement.BatchLayout`):

    image, cover, cache = compositing.forward(background, objects, layout)
    dbackground, dobjects = compositing.backward(dimage, dcover, cache)   # dcover None: no gradient

- ``min`` (the paper's): the layout pastes each object into its box by the minimum; dark strokes win.
- ``alpha`` (issue 25, after LR-GAN's foreground, mask and background): each object is a value f
  and an alpha mask a, both in (0, 1); see :class:`AlphaCompositing`. With an ink ceiling c < 1
  the object's colour is ink, c f in (0, c): it can darken the paper only where its mask lies.
  With an alpha floor m > 0 the mask the compositing uses is max(a - m, 0) / (1 - m): exactly 0 where
  the pathway's sigmoid gives at most m, as real ink's alpha is off the strokes.
"""
from ..backend import get_xp

ALPHA_CEILING = 1 - 1e-6  # a is clipped below it before log(1 - a): T >= 1e-6 per object, log finite


class MinCompositing:
    """The paper's: objects (M, s, s, 1) pasted by the minimum (:meth:`BatchLayout.paste`); no alpha."""
    channels = 1

    def forward(self, background, objects, layout):
        image, cache = layout.paste(background, objects)
        return image, None, (cache, layout)

    def backward(self, dimage, dcover, cache):
        paste_cache, layout = cache
        return layout.paste_backward(dimage, paste_cache)


class AlphaCompositing:
    """Learned alpha compositing, order-independent. objects (M, s, s, 2): the local pathway's
    value v and alpha a, both in (0, 1); the object's colour is f = ink_ceiling v (GANConfig.ink_ceiling:
    1 leaves f = v; on paper, real ink is at most 0.15, darker than any paper, and a ceiling there
    makes every object ink, so its shape can only come from its alpha).

    Three maps per object are placed on zero canvases (:meth:`BatchLayout.place`, sums over
    overlapping objects): L = sum log(1 - a), P = sum f a, S = sum a. Then, per pixel,

        T = exp(L) = prod (1 - a)       the background's transmittance
        cover = 1 - T = -expm1(L)       the objects' combined alpha (accurate for small L)
        colour = P / S                  the alpha-weighted mean value of the objects there
        image = background * T + colour * cover

    One object alone is exact "over" compositing: T = 1 - a, colour = f. Where objects overlap it
    stays defined and independent of their order (a sum and a product), and image is a convex
    combination of background and object values, so it stays in [0, 1]. The free layout resamples
    the maps into boxes of any size: f a and a resample as premultiplied colour and alpha, the
    correct way to resample an image with alpha; L resamples as optical depth. Where S = 0 (no
    object, or a = 0), P = 0 and cover = 0: colour is taken as 0 there and the image is the background.

    With ``alpha_floor`` m > 0 the a above is the pathway's alpha a' past a floor, a = max(a' - m, 0) / (1 - m)
    (GANConfig.alpha_floor): a sigmoid never reaches 0, so without it every box keeps a faint veil of ink
    whose edge is a seam on smooth paper; da' = da / (1 - m) where a' > m (there a > 0), else 0.

    Backward, with R = cover / S (where S > 0):
        dbackground = dimage T,  dL = T (background - colour) dimage - T dcover,
        dP = R dimage,  dS = -colour R dimage,
        dv = ink_ceiling a dP,  da = f dP + dS - dL / (1 - a) (0 above the alpha ceiling).
    """
    channels = 2

    def __init__(self, ink_ceiling=1.0, alpha_floor=0.0):
        self.ink_ceiling, self.alpha_floor = ink_ceiling, alpha_floor

    def mask(self, objects):
        """The alpha the compositing uses, (M, s, s, 1), from the pathway's objects (M, s, s, 2)."""
        a = objects[..., 1:]
        if not self.alpha_floor:
            return a
        return get_xp().maximum(a - self.alpha_floor, 0) / (1 - self.alpha_floor)

    def forward(self, background, objects, layout):
        xp = get_xp()
        f, a = objects[..., :1] * self.ink_ceiling, self.mask(objects)
        clipped = xp.minimum(a, ALPHA_CEILING)
        canvases, place_cache = layout.place(xp.concatenate([xp.log(1 - clipped), f * a, a], axis=-1))
        depth, premultiplied, total = canvases[..., :1], canvases[..., 1:2], canvases[..., 2:]
        transmittance, cover = xp.exp(depth), -xp.expm1(depth)
        safe_total = xp.where(total > 0, total, 1)
        colour = premultiplied / safe_total
        image = background * transmittance + colour * cover
        return image, cover, (background, f, a, clipped, transmittance, cover, colour, safe_total, place_cache, layout)

    def backward(self, dimage, dcover, cache):
        xp = get_xp()
        background, f, a, clipped, transmittance, cover, colour, safe_total, place_cache, layout = cache
        ratio = cover / safe_total
        ddepth = transmittance * ((background - colour) * dimage - (0 if dcover is None else dcover))
        dcanvases = xp.concatenate([ddepth, ratio * dimage, -colour * ratio * dimage], axis=-1)
        dmaps = layout.place_backward(dcanvases, place_cache)
        ddepth_obj, dpremultiplied, dtotal = dmaps[..., :1], dmaps[..., 1:2], dmaps[..., 2:]
        dlog = xp.where(a < ALPHA_CEILING, -ddepth_obj / (1 - clipped), 0)
        da = f * dpremultiplied + dtotal + dlog
        if self.alpha_floor:  # a > 0 exactly where the pathway's alpha is above the floor
            da = xp.where(a > 0, da / (1 - self.alpha_floor), 0)
        return dimage * transmittance, xp.concatenate([self.ink_ceiling * a * dpremultiplied, da], axis=-1)


COMPOSITINGS = {"min": MinCompositing, "alpha": AlphaCompositing}


def compositing_of(config):
    """The compositing of a GANConfig: its ``compositing`` ('min' or 'alpha') with its ink ceiling
    and alpha floor."""
    if config.compositing == "alpha":
        return AlphaCompositing(config.ink_ceiling, config.alpha_floor)
    return COMPOSITINGS[config.compositing]()
